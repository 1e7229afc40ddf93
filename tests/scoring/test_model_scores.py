"""compute_model_scores against an independent computation from the raw (B, T, V) logits."""

from __future__ import annotations

import math

import pytest
import torch

from curate.errors import CurateError
from curate.scoring import compute_model_scores


def reference_scores(model, seq: torch.Tensor, k: float) -> dict[str, float]:
    """Straight from the paper definitions, in float64, one sequence at a time."""
    with torch.no_grad():
        logits = model(seq[None]).logits[0, :-1].double()  # (T-1, V)
    logp = torch.log_softmax(logits, -1)
    p = logp.exp()
    tgt = seq[1:]
    tok = logp[torch.arange(len(tgt)), tgt]
    mu = (p * logp).sum(-1)
    sigma = torch.sqrt((p * (logp - mu[:, None]) ** 2).sum(-1))
    zpp = (tok - mu) / sigma
    m = max(1, int(len(tgt) * k))
    return {
        "ppl": math.exp(-tok.mean().item()),
        "min_k": tok.sort().values[:m].mean().item(),
        "min_k_pp": zpp.sort().values[:m].mean().item(),
        "entropy": (-mu).mean().item(),
    }


@pytest.fixture(scope="module")
def model(tiny_lm):
    return tiny_lm[0]  # 2-layer random Llama, vocabulary V = 259


V = 259


def _check(out, refs, i):
    for name, ref in refs.items():
        got = out[name][i].item()
        assert got == pytest.approx(ref, rel=1e-4, abs=1e-4), (name, i, got, ref)


@pytest.mark.parametrize("k", [0.2, 0.5])
def test_matches_raw_logits_fixed_length(model, k):
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(3, V, (6, 24), generator=g)
    # A tiny chunk budget forces several lm_head chunks per batch.
    out = compute_model_scores(model, ids, k=k, batch_size=4, progress=False, chunk_bytes=10 * 4 * V * 4)
    assert set(out) == {"ppl", "min_k", "min_k_pp", "entropy"}
    assert all(v.shape == (6,) and v.dtype == torch.float32 for v in out.values())
    for i in range(6):
        _check(out, reference_scores(model, ids[i], k), i)


def test_variable_lengths_keep_input_order(model):
    g = torch.Generator().manual_seed(2)
    seqs = [torch.randint(3, V, (n,), generator=g) for n in (5, 30, 2, 17, 30, 9)]
    out = compute_model_scores(model, seqs, k=0.5, batch_size=3, progress=False)
    for i, s in enumerate(seqs):
        _check(out, reference_scores(model, s, 0.5), i)
    # One token predicts nothing: nan, not a crash.
    one = compute_model_scores(model, [torch.tensor([5]), seqs[0]], progress=False)
    assert math.isnan(one["ppl"][0]) and one["ppl"][1] == pytest.approx(out["ppl"][0].item(), rel=1e-5)


def test_attention_mask_left_padding(model):
    g = torch.Generator().manual_seed(4)
    a, b = torch.randint(3, V, (12,), generator=g), torch.randint(3, V, (7,), generator=g)
    ids = torch.zeros(2, 12, dtype=torch.long)
    mask = torch.zeros(2, 12, dtype=torch.long)
    ids[0], mask[0] = a, 1
    ids[1, 5:], mask[1, 5:] = b, 1  # left padded
    out = compute_model_scores(model, ids, attention_mask=mask, scores=("ppl", "min_k_pp"), progress=False)
    _check(out, {k: v for k, v in reference_scores(model, b, 0.5).items() if k in out}, 1)
    _check(out, {k: v for k, v in reference_scores(model, a, 0.5).items() if k in out}, 0)


def test_one_forward_per_batch_and_lm_head_only_in_chunks(model):
    calls, head_rows = [], []
    h1 = model.model.register_forward_hook(lambda m, i, o: calls.append(1))
    h2 = model.lm_head.register_forward_hook(lambda m, i, o: head_rows.append(tuple(o.shape)))
    try:
        ids = torch.randint(3, V, (10, 16))
        rows_per_chunk = 20
        compute_model_scores(model, ids, batch_size=4, progress=False, chunk_bytes=rows_per_chunk * 4 * V * 4)
    finally:
        h1.remove()
        h2.remove()
    assert len(calls) == 3  # ceil(10 / 4) batches, all four scores from the same pass
    assert all(len(s) == 2 and s[0] <= rows_per_chunk for s in head_rows)  # (m, V), never (B, T, V)
    assert sum(s[0] for s in head_rows) == 10 * 15  # exactly the predicted positions


def test_ppl_only_skips_moments_but_agrees(model):
    ids = torch.randint(3, V, (3, 20))
    full = compute_model_scores(model, ids, progress=False)
    fast = compute_model_scores(model, ids, scores=("ppl", "min_k"), progress=False)
    assert torch.allclose(full["ppl"], fast["ppl"], rtol=1e-5)
    assert torch.allclose(full["min_k"], fast["min_k"], rtol=1e-5)


def test_rejects_unknown_score_and_bad_k(model):
    with pytest.raises(CurateError, match="unknown model score"):
        compute_model_scores(model, torch.ones(1, 4, dtype=torch.long), scores=("mink",))
    with pytest.raises(CurateError, match="k="):
        compute_model_scores(model, torch.ones(1, 4, dtype=torch.long), k=1.5)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(model):
    ids = torch.randint(3, V, (4, 32))
    cpu = compute_model_scores(model, ids, progress=False)
    gpu = compute_model_scores(model.to("cuda"), ids, progress=False)
    model.to("cpu")
    for name in cpu:
        assert torch.allclose(cpu[name], gpu[name], rtol=1e-3, atol=1e-3)
