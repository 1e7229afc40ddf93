"""Capability dimensions and retention arithmetic (pure functions, no model needed).

    from curate.evaluate.dimensions import dimension_of, retention
    dimension_of("hellaswag")                 # 'Commonsense' (from the task's YAML metadata)
    retention(0.40, 0.50, higher_is_better=True)   # 0.8  (accuracy: pruned / dense)
    retention(20.0, 16.0, higher_is_better=False)  # 0.8  (perplexity: dense / pruned)

Xu et al. 2026 ("Rethinking calibration data for pruning LLMs") group evaluations into four
capability dimensions -- General, Commonsense, Math, Code -- and report how much of the dense
model's score a pruned model keeps in each. A task's dimension is in its YAML metadata
(:func:`curate.tasks.task_info`); a perplexity text's comes from its domain. *Retention* is pruned / dense for scores where higher is better
(accuracy) and dense / pruned for perplexity, so that 1.0 always means "nothing lost" and
smaller is worse in every row. A dimension's retention is the mean over its metrics; the total
is the mean over dimensions, each weighted equally, so a dimension measured by many texts does
not drown the others.
"""

from __future__ import annotations

import math

from curate.tasks import DIMENSIONS, task_info

TOTAL = "Total"

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
    """Dimension of an lm-eval task, from its YAML metadata (:func:`curate.tasks.task_info`)."""
    return task_info(task).dimension


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


# A dense model at chance has nothing to retain: SmolLM2-135M scores ~0.25 on MMLU, and 0.30 /
# 0.15 on 20 items would read as "retention 2.0". Such metrics stay in the table but are left out
# of dimension retention. Each task's chance level is in its YAML metadata (greedy tasks such as
# lastword_*: ~0, one token sequence among 49k^k; bits-per-byte tasks: none, not an accuracy).
CHANCE_MARGIN = 0.05  # used only when the item count is unknown
Z95 = 1.959963984540054


ACCURACY_METRICS = ("acc", "exact_match", "pass")  # metric-name prefixes that are proportions of items


def chance_of(metric: str) -> float | None:
    """Chance accuracy of a ``<task>:<metric>`` accuracy metric (task metadata ``chance``), None
    if unknown or not an accuracy (``bpb``, ``perplexity``)."""
    task, _, name = metric.partition(":")
    if not name.startswith(ACCURACY_METRICS):
        return None
    return task_info(task).chance


def wilson(p: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion ``p`` observed on ``n`` items (95 % by default).

    Unlike p +- z*sqrt(p(1-p)/n) it stays inside [0, 1] and is not degenerate at p = 0 or 1,
    which matters for the greedy tasks whose chance level is ~0.
    """
    if n <= 0 or not math.isfinite(p):
        return (float("nan"), float("nan"))
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # At p = 0 (or 1) the bound is exactly 0 (or 1); rounding would leave 1e-17 and make a
    # zero-accuracy greedy task (chance 0) look "above chance".
    lo = 0.0 if p <= 0 else max(0.0, centre - half)
    hi = 1.0 if p >= 1 else min(1.0, centre + half)
    return (lo, hi)


def at_chance(metric: str, dense_value: float, n: int | None = None) -> bool:
    """True when the dense model is indistinguishable from chance on this accuracy metric.

    With the item count ``n``: the dense 95 % Wilson interval includes chance (or lies below
    it). Without it: the dense accuracy is within CHANCE_MARGIN of chance.
    """
    c = chance_of(metric)
    if c is None:
        return False
    if n:
        return wilson(dense_value, n)[0] <= c
    return dense_value <= c + CHANCE_MARGIN


def chance_reason(metric: str, dense_value: float, n: int | None = None) -> str:
    """One line saying why a metric is at chance (for reports)."""
    c = chance_of(metric)
    if n:
        lo, hi = wilson(dense_value, n)
        return f"dense {dense_value:.3f} [95 % CI {lo:.3f}, {hi:.3f}] on {n} items includes chance {c:g}"
    return f"dense {dense_value:.3f} is within {CHANCE_MARGIN:g} of chance {c:g} (item count unknown)"


def metric_kind(metric: str) -> str:
    """``perplexity`` for ``ppl:*`` and bits-per-byte metrics (a likelihood of given text, lower is
    better), ``accuracy`` for the other task metrics."""
    return "perplexity" if metric.startswith("ppl:") or metric.endswith(":bpb") else "accuracy"


def task_items(tasks, limit) -> dict[str, int]:
    """Items each task was scored on (:func:`curate.tasks.items_for`: the limit, or the task's
    metadata ``items``, at most its size) for tasks whose size is known; others are absent
    (their chance test falls back to the margin)."""
    from curate.tasks import items_for, task_size

    out = {}
    for t in tasks or ():
        size = task_size(t)
        if size is not None:
            out[t] = items_for(t, limit) or size
    return out


def _informative(table, items: dict[str, int] | None):
    import polars as pl

    if "metric" not in table.columns:
        return table
    items = items or {}
    keep = [not at_chance(m, d, items.get(m.partition(":")[0]))
            for m, d in zip(table["metric"], table["dense_value"], strict=True)]
    return table.filter(pl.Series(keep, dtype=pl.Boolean))


def dimension_retention(table, *, items: dict[str, int] | None = None, by_kind: bool = False):
    """Per (set, fingerprint, seed, dimension) mean retention, plus a ``Total`` row per draw.

    ``table`` is the tidy results frame of :func:`curate.validate.validate` (columns set,
    fingerprint, seed, metric, dimension, dense_value, retention). The Total is the unweighted
    mean over the dimensions present in that draw. Metrics on which the dense model is at
    chance (:func:`at_chance`, with ``items`` = {task: item count} where known) are left out.
    ``by_kind=True`` keeps accuracy and perplexity apart: a ``kind`` column and a Total per kind.
    """
    import polars as pl

    keys = ["set", "fingerprint", "seed"]
    table = _informative(table, items)
    if by_kind:
        table = table.with_columns(pl.col("metric").map_elements(metric_kind, return_dtype=pl.String).alias("kind"))
        keys = [*keys, "kind"]
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


def summarize(table, *, items: dict[str, int] | None = None, by_kind: bool = False):
    """Mean +- std over seeds of each set's dimension retention: (set, fingerprint, [kind,]
    dimension, mean, std, n, n_fingerprints). ``std`` is the sample std (ddof=1), 0 for a single
    seed; ``n`` counts seeds.

    Grouped by set (validate's labels are unique per input set), not by fingerprint: under
    ``--draw rebuild`` every seed is its own rebuilt set with its own fingerprint, and grouping
    by it gave n = 1 and std 0 per row. ``fingerprint`` is then the lowest seed's and
    ``n_fingerprints`` says how many sets the seeds were drawn from (1 under resample)."""
    import polars as pl

    per_draw = dimension_retention(table, items=items, by_kind=by_kind)
    order = {d: i for i, d in enumerate((*DIMENSIONS, TOTAL))}
    keys = ["set", *(["kind"] if by_kind else []), "dimension"]
    return (
        per_draw.sort("seed").group_by(keys, maintain_order=True)
        .agg(pl.col("fingerprint").first(),
             pl.col("retention").mean().alias("mean"),
             pl.col("retention").std(ddof=1).fill_null(0.0).alias("std"),
             pl.len().alias("n"),
             pl.col("fingerprint").n_unique().alias("n_fingerprints"))
        .select(["set", "fingerprint", *keys[1:], "mean", "std", "n", "n_fingerprints"])
        .with_columns(pl.col("dimension").replace_strict(order, default=len(order)).alias("_o"))
        .sort(["set", *(["kind"] if by_kind else []), "_o"]).drop("_o")
    )


def best_per_dimension(summary) -> dict[str, str]:
    """Set with the highest mean retention per dimension (ties -> the first in name order)."""
    import polars as pl

    best: dict[str, str] = {}
    for dim in summary["dimension"].unique(maintain_order=True).to_list():
        rows = summary.filter(pl.col("dimension") == dim).sort(["mean", "set"], descending=[True, False])
        best[dim] = rows["set"][0]
    return best
