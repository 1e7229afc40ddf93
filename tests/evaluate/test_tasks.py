"""curate's offline accuracy tasks: item builders (pure), the committed data, lm-eval runs."""

import json
import re

import pytest
import torch

from curate.tasks import HOMEMADE_TASKS as ACCURACY_TASKS
from curate.tasks import TASKS_DIR, task_size
from curate.tasks.build import (
    arithmetic_items,
    humaneval_mc_items,
    lastword_item,
    shakespeare_lastword,
)


def test_lastword_target_is_the_passage_end_and_occurs_before():
    units = ["The river Tamar rises near the coast.", "Its valley is deep and green.",
             "Mills once stood along the Tamar."]
    item = lastword_item(units, min_words=5, max_words=50, joiner=" ")
    assert item == {"context": " ".join(units)[: -len("Tamar.")].rstrip(), "target": " Tamar"}
    assert item["target"].strip() in item["context"].split()
    # no earlier occurrence of the final word: no item
    assert lastword_item(["One two three four five six seven."], min_words=3, max_words=50, joiner=" ") is None


def test_shakespeare_passages_skip_folio_duplicates():
    speech = "HAMLET.\n" + "\n".join(f"line {i} of the speech that goes on" for i in range(6)) + "\nand ends on speech"
    docs = [("play_gut", speech), ("play_gut_f", speech)]
    items = list(shakespeare_lastword(docs))
    assert [i["id"].split("/")[0] for i in items] == ["play_gut"]
    assert items[0]["target"] == " speech" and items[0]["context"].endswith("and ends on")


def test_arithmetic_answers_are_right_and_shots_are_never_asked():
    items = arithmetic_items(60, seed=3)
    assert len(items) == 60 and len({i["id"] for i in items}) == 60
    shots = re.findall(r"What is (\d+) (\w+) (\d+)\?", items[0]["context"])[:-1]
    for it in items:
        a, op, b = re.findall(r"What is (\d+) (\w+) (\d+)\?", it["context"])[-1]
        want = {"plus": int(a) + int(b), "minus": int(a) - int(b), "times": int(a) * int(b)}[op]
        assert it["target"] == f" {want}" and (a, op, b) not in shots
    assert arithmetic_items(60, seed=3) == items


def test_humaneval_mc_has_one_canonical_choice_at_the_label():
    probs = [{"task_id": f"T/{i}", "prompt": f"def f{i}():\n", "canonical_solution": f"    return {i}\n"} for i in range(10)]
    items = humaneval_mc_items(probs, seed=0)
    for p, it in zip(probs, items, strict=True):
        assert len(it["choices"]) == 4 and it["choices"][it["label"]] == p["canonical_solution"]
        assert it["choices"].count(p["canonical_solution"]) == 1
    assert len({it["label"] for it in items}) > 1  # the answer position is drawn, not fixed


@pytest.mark.parametrize("task", ACCURACY_TASKS)
def test_committed_data_is_sized_and_well_formed(task):
    lines = (TASKS_DIR / "data" / f"{task}.jsonl").read_text().splitlines()
    items = [json.loads(x) for x in lines]
    # humaneval_mc: 164 problems less the 2 that share a word 13-gram with a calibration split
    assert task_size(task) == len(items) >= (162 if task == "humaneval_mc" else 200)
    assert len({i["id"] for i in items}) == len(items)
    assert (TASKS_DIR / f"{task}.yaml").exists()


@pytest.mark.slow
def test_committed_data_is_reproducible_and_held_out(tmp_path):
    from curate.evaluate.texts import calibration_hits
    from curate.tasks.build import main

    assert main(["--check"]) == 0  # a rebuild gives byte-identical files
    items = {t: [json.loads(x) for x in (TASKS_DIR / "data" / f"{t}.jsonl").read_text().splitlines()]
             for t in ACCURACY_TASKS}
    cand = {t: {i["id"]: i["context"] + (i.get("target") or "\n".join(i.get("choices", []))) for i in its}
            for t, its in items.items()}
    assert all(not hits for hits in calibration_hits(cand).values())


@pytest.mark.slow
def test_tasks_run_in_lm_eval_on_an_in_memory_model():
    from tiny_models import tiny_llama

    from curate.evaluate.harness import run_tasks
    from curate.models import load_tokenizer

    tok = load_tokenizer("smollm2-135m")
    model = tiny_llama(vocab_size=len(tok), hidden=32, layers=2, seed=0)
    scores = run_tasks(model, tok, list(ACCURACY_TASKS), limit=4)
    got = {(s.task, s.metric): s for s in scores}
    dims = {"lastword_wikipedia": "General", "lastword_shakespeare": "General", "arithmetic_2digit": "Math",
            "humaneval_mc": "Code"}
    for t, d in dims.items():
        assert got[(t, "acc")].dimension == d and 0.0 <= got[(t, "acc")].value <= 1.0
    # A zero output head predicts token 0 everywhere: no greedy target is ever produced.
    with torch.no_grad():
        model.lm_head.weight.zero_()
    zero = {s.task: s.value for s in run_tasks(model, tok, ["lastword_wikipedia", "arithmetic_2digit"], limit=4)
            if s.metric == "acc"}
    assert zero == {"lastword_wikipedia": 0.0, "arithmetic_2digit": 0.0}
