"""The on-device sampler draws from the same distribution as transformers' sampling warpers
(what the transformers backend used before), is reproducible, and does not depend on batching."""

from __future__ import annotations

import pytest
import torch
from transformers import (
    LogitsProcessorList,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from curate.generation import SamplingConfig
from curate.generation.hf_backend import (
    TransformersBackend,
    row_uniforms,
    sample_top_k_top_p,
    top_k_top_p_probs,
)


def _pvalue(stat: float, df: int) -> float:
    """P(chi2_df > stat) = Q(df / 2, stat / 2)."""
    return float(torch.special.gammaincc(torch.tensor(df / 2, dtype=torch.float64),
                                         torch.tensor(stat / 2, dtype=torch.float64)))


def _chisquare(observed, expected) -> float:
    o, e = torch.as_tensor(observed, dtype=torch.float64), torch.as_tensor(expected, dtype=torch.float64)
    return _pvalue(float(((o - e) ** 2 / e).sum()), o.numel() - 1)


def _homogeneity(a, b) -> float:
    """Two-sample chi-square test that counts ``a`` and ``b`` (same categories) share one law."""
    t = torch.stack([torch.as_tensor(a), torch.as_tensor(b)]).double()  # (2, K)
    e = t.sum(1, keepdim=True) * t.sum(0, keepdim=True) / t.sum()
    return _pvalue(float(((t - e) ** 2 / e).sum()), t.shape[1] - 1)


def _hf_probs(logits, t, k, p):
    """The old path: transformers' warpers, then softmax over the whole vocabulary."""
    warp = LogitsProcessorList([TemperatureLogitsWarper(t), TopKLogitsWarper(k), TopPLogitsWarper(p)])
    return torch.softmax(warp(None, logits.clone()), -1)


def _dense(probs, idx, V):
    return torch.zeros(probs.shape[0], V).scatter_(1, idx, probs)


@pytest.mark.parametrize("t,k,p", [(0.8, 50, 0.95), (1.3, 10, 0.5), (0.6, 200, 0.9), (1.0, 5, 1.0)])
def test_top_k_top_p_equals_transformers_warpers(t, k, p):
    logits = torch.randn(16, 300, generator=torch.Generator().manual_seed(0)) * 3
    probs, idx = top_k_top_p_probs(logits / t, k, p)
    torch.testing.assert_close(_dense(probs, idx, 300), _hf_probs(logits, t, k, p), rtol=1e-5, atol=1e-6)


def test_draws_follow_the_distribution():
    logits = torch.randn(1, 300, generator=torch.Generator().manual_seed(1)) * 2
    want = _hf_probs(logits, 0.8, 50, 0.95)[0]
    n = 40_000
    u = row_uniforms(7, torch.arange(n), 3)
    tok = sample_top_k_top_p((logits / 0.8).expand(n, -1), 50, 0.95, u)
    counts = torch.bincount(tok, minlength=300).double()
    assert counts[want == 0].sum() == 0  # never outside top-k / top-p
    keep = want > 0
    exp = want[keep].double() / want[keep].double().sum() * n
    assert _chisquare(counts[keep], exp) > 1e-3


def test_uniforms_are_uniform_pinned_and_counter_based():
    u = row_uniforms(0, torch.arange(50_000), 0)
    assert 0 <= float(u.min()) and float(u.max()) < 1
    assert _chisquare(torch.histc(u, 20, 0, 1), torch.full((20,), 2500.0)) > 1e-3
    assert not torch.equal(u, row_uniforms(0, torch.arange(50_000), 1))
    assert not torch.equal(u, row_uniforms(1, torch.arange(50_000), 0))
    # exact integer hashing: these values are the same on every machine and device
    assert row_uniforms(0, torch.arange(3), 0).tolist() == pytest.approx(PINNED, abs=0)


PINNED = [0.9177989363670349, 0.28908872604370117, 0.4014604091644287]


def _old_generate(model, tok, prompts, m, cfg, seed, bs):
    """The transformers backend before the device sampler (sampling by generate's warpers)."""
    out = []
    for batch_no, b in enumerate(range(0, len(prompts), bs)):
        chunk = prompts[b:b + bs]
        ids = torch.tensor(chunk, dtype=torch.long)  # equal lengths: no padding
        torch.manual_seed(seed * 1_000_003 + batch_no)
        with torch.inference_mode():
            gen = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=True,
                                 top_p=cfg.top_p, top_k=cfg.top_k, temperature=cfg.temperature,
                                 repetition_penalty=cfg.repetition_penalty, max_new_tokens=m, min_new_tokens=m,
                                 pad_token_id=tok.pad_token_id, use_cache=True)
        out += gen[:, ids.shape[1]:].tolist()
    return out


def test_token_frequencies_match_the_old_sampler(tiny_lm):
    model, tok = tiny_lm
    # sharpen the random model so top-k and top-p both cut (flat logits would make them no-ops)
    model = type(model)(model.config).eval()
    model.load_state_dict(tiny_lm[0].state_dict())
    with torch.no_grad():
        model.lm_head.weight.mul_(12.0)
    cfg = SamplingConfig(temperature=0.8, top_p=0.9, top_k=20, repetition_penalty=1.2)
    prompts = [[70, 71]] * 3000
    new = torch.tensor(TransformersBackend(model, tok, batch_size=1000).generate(prompts, [3] * 3000, cfg, seed=0,
                                                                                 progress=False))
    old = torch.tensor(_old_generate(model, tok, prompts, 3, cfg, seed=0, bs=1000))
    for pos in range(3):
        V = model.config.vocab_size
        a, b = torch.bincount(new[:, pos], minlength=V), torch.bincount(old[:, pos], minlength=V)
        seen = (a + b) > 0
        assert 3 <= seen.sum() and _homogeneity(a[seen], b[seen]) > 1e-3, pos


def test_seeded_runs_reproducible_and_batch_size_free(tiny_lm):
    model, tok = tiny_lm
    prompts = [[70, 71, 72]] * 4 + [[73, 74, 75]] * 3
    lens = [9, 8, 9, 7, 9, 9, 8]
    cfg = SamplingConfig()
    a = TransformersBackend(model, tok, batch_size=3).generate(prompts, lens, cfg, seed=0, progress=False)
    b = TransformersBackend(model, tok, batch_size=3).generate(prompts, lens, cfg, seed=0, progress=False)
    c = TransformersBackend(model, tok, batch_size=7).generate(prompts, lens, cfg, seed=0, progress=False)
    d = TransformersBackend(model, tok, batch_size=3).generate(prompts, lens, cfg, seed=1, progress=False)
    assert a == b == c and a != d
    assert [len(x) for x in a] == lens
    assert a[0] != a[1]  # rows of equal prompts draw different tokens


def test_static_cache_is_one_object_reset_in_place(tiny_lm):
    """The static-cache path keeps one StaticCache (same tensors, so a CUDA graph's input
    addresses never change) across batches and calls, and generates what the dynamic cache does."""
    model, tok = tiny_lm
    prompts = [[70, 71, 72], [73], [74, 75], [76, 77, 78, 79], [80], [81, 82]]
    lens = [9, 8, 9, 7, 9, 9]
    cfg = SamplingConfig()
    static = TransformersBackend(model, tok, batch_size=4, cache="static")
    seen = []
    real = static._static_cache

    def spy(batch, max_len):
        c = real(batch, max_len)
        seen.append((id(c), c.layers[0].keys.data_ptr() if getattr(c.layers[0], "is_initialized", False) else None))
        return c

    static._static_cache = spy
    a = static.generate(prompts, lens, cfg, seed=0, progress=False)  # 2 batches: 4 rows, then 2 padded to 4
    b = static.generate(prompts, lens, cfg, seed=0, progress=False)
    dynamic = TransformersBackend(model, tok, batch_size=4, cache="dynamic").generate(prompts, lens, cfg, seed=0,
                                                                                       progress=False)
    assert a == b == dynamic and [len(x) for x in a] == lens
    assert len(seen) == 4 and len({i for i, _ in seen}) == 1  # one cache object for every batch of both calls
    assert len({p for _, p in seen[1:]}) == 1  # and, once allocated, the same key tensor
