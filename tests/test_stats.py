"""curate.stats: t intervals, Holm, paired differences over seeds (validate's report and the study)."""

import math

import pytest

from curate.stats import holm, mean_ci, paired_difference, paired_vs_best, pairwise_differences


def test_mean_ci_is_the_t_interval():
    m, lo, hi = mean_ci([1.0, 2.0, 3.0, 4.0, 5.0])
    # sd = 1.5811, t_{0.975,4} = 2.7764 -> half-width 1.9632
    assert m == 3.0 and hi - m == pytest.approx(1.9632, abs=1e-3) and m - lo == pytest.approx(hi - m)
    assert mean_ci([0.4]) == (0.4, 0.4, 0.4)
    assert all(math.isnan(x) for x in mean_ci([]))
    assert mean_ci([1.0, float("nan"), None, 3.0])[0] == 2.0  # NaN / missing seeds do not count


def test_holm_adjusts_in_order_and_stays_monotone():
    adj = holm({"a": 0.01, "b": 0.04, "c": 0.03})
    assert adj == {"a": pytest.approx(0.03), "c": pytest.approx(0.06), "b": pytest.approx(0.06)}


def test_paired_vs_best_finds_consistent_gaps_only():
    seeds = range(5)
    best = {s: 0.60 + 0.01 * s for s in seeds}
    worse = {s: best[s] - 0.05 + 0.002 * (s % 2) for s in seeds}   # always ~0.05 below: significant
    noisy = {s: best[s] + (0.04 if s % 2 else -0.05) for s in seeds}  # same mean-ish, noisy: not significant
    name, p = paired_vs_best({"best": best, "worse": worse, "noisy": noisy})
    assert name == "best"
    assert p["worse"] < 0.05 and p["noisy"] > 0.05


def test_paired_difference_matches_a_hand_computed_paired_t():
    a = {0: 0.61, 1: 0.64, 2: 0.60, 7: 0.9}       # seed 7 has no partner: left out
    b = {0: 0.55, 1: 0.60, 2: 0.57}
    d = paired_difference(a, b)
    # diffs 0.06, 0.04, 0.03: mean 0.04333, sd 0.015275, se 0.0088192, t = 4.9135 on 2 df
    assert d.n == 3 and d.mean == pytest.approx(0.043333, abs=1e-6)
    assert d.high - d.mean == pytest.approx(4.302653 * 0.0088192, abs=1e-5)  # t_{0.975,2} * se
    assert d.p == pytest.approx(0.039012, abs=1e-5)
    assert d.low > 0  # the interval excludes 0, as p < 0.05 says


def test_paired_difference_without_spread_or_seeds():
    same = paired_difference({0: 1.0, 1: 2.0}, {0: 1.0, 1: 2.0})
    assert same.mean == 0.0 and math.isnan(same.p)
    gap = paired_difference({0: 1.5, 1: 2.5}, {0: 1.0, 1: 2.0})   # the same 0.5 gap on every seed
    assert gap.p == 0.0 and gap.low == gap.high == 0.5
    one = paired_difference({0: 1.0}, {0: 0.0})
    assert one.n == 1 and math.isnan(one.p)


def test_pairwise_differences_cover_every_pair_with_holm_over_the_family():
    seeds = range(4)
    per = {"a": {s: 0.70 + 0.01 * s for s in seeds},
           "b": {s: 0.60 + 0.01 * s + 0.001 * (s % 2) for s in seeds},
           "c": {s: 0.70 + 0.01 * s + (0.02 if s % 2 else -0.02) for s in seeds}}
    rows = pairwise_differences(per)
    assert [(r.a, r.b) for r in rows] == [("a", "b"), ("a", "c"), ("b", "c")]
    raw = {(r.a, r.b): r.diff.p for r in rows}
    assert {(r.a, r.b): r.p_holm for r in rows} == pytest.approx(holm(raw))
    ab, ac, bc = rows
    assert ab.diff.mean == pytest.approx(0.0995, abs=1e-4) and ab.distinguishable
    assert not ac.distinguishable and ac.diff.low < 0 < ac.diff.high   # a and c: not distinguishable
    assert all(r.p_holm >= r.diff.p for r in rows)
