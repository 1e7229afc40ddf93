"""docs/extending.md checked against the code: a new task is one YAML file (plus its data), a new
scorer one class plus one registry line, a new step one file plus one registry line.

    PYTHONPATH=$PWD python -m pytest tests/test_extending.py -q
"""

import json
from typing import ClassVar, Literal

import numpy as np
import pytest

import curate.tasks as tasks_mod
from curate.build import build_recipe
from curate.context import RunContext
from curate.errors import CurateError
from curate.recipe import parse_recipe
from curate.steps import STEPS, Step, StepSpec
from curate.steps.score import SCORERS
from curate.steps.scorers import Scorer

TASK_YAML = """\
task: my_task
custom_dataset: !function offline.load
dataset_kwargs: {task_file: my_task}
test_split: test
output_type: loglikelihood
doc_to_text: "{{context}}"
doc_to_target: "{{target}}"
metric_list:
  - {metric: acc, aggregation: mean, higher_is_better: true}
metadata:
  dimension: Code
  chance: 0.125
  metric: acc
  higher_is_better: true
  split: test
  default: true
  items: 17
"""


def _clear_task_caches():
    for fn in (tasks_mod._configs, tasks_mod.task_info, tasks_mod.task_size):
        fn.cache_clear()


@pytest.fixture
def task_folder(tmp_path, monkeypatch):
    """The task folder as a newcomer leaves it: one more YAML and its data file, nothing else."""
    (tmp_path / "data").mkdir()
    (tmp_path / "my_task.yaml").write_text(TASK_YAML)
    rows = [{"id": f"q{i}", "context": f"{i} + {i} =", "target": f" {2 * i}"} for i in range(3)]
    (tmp_path / "data" / "my_task.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    monkeypatch.setattr(tasks_mod, "TASKS_DIR", tmp_path)
    _clear_task_caches()
    yield tmp_path
    _clear_task_caches()


def test_a_new_task_is_one_yaml_file_and_its_data(task_folder):
    from curate.evaluate.dimensions import at_chance, chance_of, dimension_of
    from curate.evaluate.evaluator import EvalConfig

    info = tasks_mod.task_info("my_task")
    assert (info.dimension, info.chance, info.metric, info.known, info.items) == ("Code", 0.125, "acc", True, 17)
    assert tasks_mod.task_names() == ("my_task",)
    assert tasks_mod.task_size("my_task") == 3  # read from data/my_task.jsonl
    # every consumer reads the metadata: dimensions, chance, validate's default tasks and limits
    assert dimension_of("my_task") == "Code" and chance_of("my_task:acc") == 0.125
    assert at_chance("my_task:acc", 0.13) and not at_chance("my_task:acc", 0.9)
    assert "my_task" in tasks_mod.default_tasks() and tasks_mod.default_limit()["my_task"] == 17
    assert "my_task" in EvalConfig().tasks
    # a wrong dimension is refused naming the task and its file
    (task_folder / "my_task.yaml").write_text(TASK_YAML.replace("dimension: Code", "dimension: Coding"))
    _clear_task_caches()
    with pytest.raises(CurateError, match=r"task 'my_task' .*my_task\.yaml.*'Coding'"):
        tasks_mod.task_info("my_task")


class VowelShare(Scorer):
    """Share of vowels among the letters of a sample (a throwaway scorer for this test)."""

    name_ = "vowel_share"
    outputs = ("vowel_share",)

    def score(self, samples, ctx):
        def share(t: str) -> float:
            letters = [c for c in t.lower() if c.isalpha()]
            return sum(c in "aeiou" for c in letters) / max(1, len(letters))

        return {"vowel_share": np.array([share(s.text) for s in samples])}


@pytest.fixture
def corpus(tmp_path):
    words = "the quick brown fox jumps over a lazy dog while seven wizards quietly hex jumbo crates".split()
    f = tmp_path / "docs.jsonl"
    f.write_text("".join(json.dumps({"id": f"d{i}", "text": " ".join(words[(i * j) % len(words)] for j in range(40))})
                         + "\n" for i in range(1, 30)))
    return f


def _ctx(tiny_lm):
    from curate.models import ModelInfo, tokenizer_fingerprint

    m, t = tiny_lm
    return RunContext.from_objects(m, t, ModelInfo("tiny", "local", "/tiny", None, "0" * 64, tokenizer_fingerprint(t)),
                                   seed=0, batch_size=4, progress=False)


def _recipe(corpus, steps):
    return parse_recipe({"name": "t", "seed": 0, "seq_len": 32, "n_samples": 4,
                         "components": [{"source": {"type": "files", "paths": [str(corpus)], "id_field": "id"},
                                         "steps": [{"type": "sample", "oversample": 3.0}, *steps]}]})


def test_a_new_scorer_is_one_class_and_one_registry_line(tmp_path, corpus, tiny_lm):
    SCORERS.register("vowel_share", VowelShare)  # the one line of curate/steps/score.py
    try:
        r = _recipe(corpus, [{"type": "score", "scorer": "vowel_share", "keep": "highest", "n": 4}])
        res = build_recipe(r, tmp_path / "out", ctx=_ctx(tiny_lm), progress=False)
        kept = sorted(s.scores["vowel_share"] for s in res.samples)
        assert len(kept) == 4 and "vowel_share" in res.manifest["score_summary"]
        with pytest.raises(CurateError, match="vowel_shar"):  # did-you-mean on a typo, at load
            _recipe(corpus, [{"type": "score", "scorer": "vowel_shar"}])
        with pytest.raises(CurateError, match="no parameter 'kep'"):
            _recipe(corpus, [{"type": "score", "scorer": "vowel_share", "kep": "highest"}])
    finally:
        SCORERS.unregister("vowel_share")


class EveryOtherSpec(StepSpec):
    type: Literal["every_other"]
    stage: ClassVar[str] = "sample"


class EveryOther(Step):
    """Keeps samples 0, 2, 4, ... and counts the rest under one reason (a throwaway step)."""

    kind = "filter"

    def __init__(self, spec, **_):
        super().__init__(name="every_other")

    def process(self, samples, ctx):
        self.stats.drop("odd_position", len(samples) // 2)
        return samples[::2]


def test_a_new_step_is_one_file_and_one_registry_line(tmp_path, corpus, tiny_lm):
    STEPS.register("every_other", EveryOther, spec=EveryOtherSpec)  # the one line of curate/steps/__init__.py
    try:
        res = build_recipe(_recipe(corpus, [{"type": "every_other"}]), tmp_path / "out", ctx=_ctx(tiny_lm),
                           progress=False)
        step = next(s for s in res.manifest["steps"] if s["name"] == "every_other")
        assert step["reasons"] == {"odd_position": 6} and len(res.samples) == 4  # 12 sampled, 6 kept, 4 trimmed
    finally:
        STEPS.unregister("every_other")
