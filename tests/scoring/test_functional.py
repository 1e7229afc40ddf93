"""Pure scoring math against brute-force and hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from curate.scoring import functional as F


def test_token_stats_match_brute_force():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(7, 50, generator=g) * 3
    targets = torch.randint(0, 50, (7,), generator=g)
    st = F.token_stats(logits, targets)
    for m in range(7):
        z = logits[m].double()
        p = torch.exp(z - torch.logsumexp(z, 0))
        logp = torch.log(p)
        mu = sum(float(p[v] * logp[v]) for v in range(50))
        var = sum(float(p[v] * (logp[v] - mu) ** 2) for v in range(50))  # centred form, not E[x^2]-mu^2
        assert st["token_logp"][m].item() == pytest.approx(float(logp[targets[m]]), abs=1e-5)
        assert st["mu"][m].item() == pytest.approx(mu, abs=1e-5)
        assert st["sigma"][m].item() == pytest.approx(math.sqrt(var), abs=1e-4)
        assert st["entropy"][m].item() == pytest.approx(-mu, abs=1e-5)


def test_min_k_percent_takes_lowest_fraction():
    v = torch.tensor([5.0, -1.0, 3.0, -4.0, 0.0, 2.0, -2.0, 1.0, 4.0, -3.0])
    assert F.min_k_percent(v, 0.2) == pytest.approx((-4 - 3) / 2)
    assert F.min_k_percent(v, 1.0) == pytest.approx(0.5)
    assert F.min_k_percent(torch.tensor([7.0]), 0.2) == 7.0  # at least one position
    assert math.isnan(F.min_k_percent(torch.tensor([]), 0.5))
    with pytest.raises(ValueError):
        F.min_k_percent(v, 0.0)


def test_perplexity_is_exp_mean_nll():
    lp = torch.log(torch.tensor([0.5, 0.25, 0.125]))
    assert F.perplexity(lp) == pytest.approx(4.0)


def test_ngram_aggregation_hand_computed():
    # 4-grams (lower-cased words):
    # A "a b c d e"  -> abcd, bcde
    # B "A b c d x"  -> abcd, bcdx
    # C "p q r s p q r s" -> pqrs, qrsp, rspq, spqr, pqrs (5 occurrences, 4 distinct)
    texts = ["a b c d e", "A b c d x", "p q r s p q r s"]
    agg = F.ngram_aggregation(texts, n=4, top_k=1)
    # total occurrences 2 + 2 + 5 = 9; only "a b c d" is in two samples: 2 occurrences repeat.
    # "p q r s" repeats inside C only -> not a cross-sample repeat.
    assert agg["total"] == 9
    assert agg["unique"] == 7
    assert agg["repeat_share"] == pytest.approx(2 / 9)
    assert agg["contrib"] == pytest.approx([1 / 9, 1 / 9, 0.0])
    assert sum(agg["contrib"]) == pytest.approx(agg["repeat_share"])
    assert agg["sample_repeat_share"] == pytest.approx([0.5, 0.5, 0.0])
    # Top-1 n-gram by occurrences: "a b c d" and "p q r s" both occur twice -> 2 / 9.
    assert agg["top_k_share"] == pytest.approx(2 / 9)


def test_distinct_n_and_zipf():
    toks = "the cat the dog the end".split()
    assert F.distinct_n([toks], 1) == pytest.approx(4 / 6)
    assert F.distinct_n([toks], 2) == pytest.approx(5 / 5)
    # Exact Zipf counts f(r) = 1200 / r^s with s = 1 (rounded) -> fitted exponent ~1.
    zipf = [f"w{r}" for r in range(1, 41) for _ in range(round(1200 / r))]
    assert F.zipf_exponent(zipf) == pytest.approx(1.0, abs=0.02)
    steep = [f"w{r}" for r in range(1, 41) for _ in range(max(1, round(1200 / r**2)))]
    assert F.zipf_diversity(steep) < F.zipf_diversity(zipf)
    assert math.isnan(F.zipf_exponent(["a", "b"]))


def test_summarize_ignores_nan():
    s = F.summarize(np.array([1.0, 3.0, float("nan")]))
    assert s["mean"] == 2.0 and s["n"] == 2 and s["max"] == 3.0
