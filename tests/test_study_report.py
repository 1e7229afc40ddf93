"""The study's statistics (benchmarks/study_report.py): intervals, Holm, paired test vs the best."""

import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from study_report import holm, mean_ci, paired_vs_best, results_section  # noqa: E402


def test_mean_ci_is_the_t_interval():
    m, lo, hi = mean_ci([1.0, 2.0, 3.0, 4.0, 5.0])
    # sd = 1.5811, t_{0.975,4} = 2.7764 -> half-width 1.9632
    assert m == 3.0 and hi - m == pytest.approx(1.9632, abs=1e-3) and m - lo == pytest.approx(hi - m)
    assert mean_ci([0.4]) == (0.4, 0.4, 0.4)
    assert all(math.isnan(x) for x in mean_ci([]))


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


def test_results_section_does_not_rank_a_column_at_the_floor():
    import polars as pl

    rows = [(s, seed, "accuracy", d, v) for seed in range(3) for s, g in (("a", 0.5), ("b", 0.4))
            for d, v in (("General", g + 0.01 * seed), ("Math", 0.0))]
    draws = pl.DataFrame(rows, schema=["set", "seed", "kind", "dimension", "retention"], orient="row")
    lines, verdicts = results_section(draws, ["a", "b"], "accuracy")
    math_row = [v for v in verdicts if "Math" in v]
    assert math_row == ["- **accuracy Math**: every set and seed at 0.000 (the floor): no ranking."]
    assert "**best**" in lines[2] and lines[2].count("**best**") == 1  # General ranks, Math does not
