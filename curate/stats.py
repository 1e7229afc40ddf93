"""Is set A really better than set B? Intervals and paired tests over seeds, Holm-corrected.

    from curate.stats import mean_ci, holm, paired_difference, pairwise_differences
    mean_ci([0.61, 0.64, 0.60])                        # (0.617, 0.566, 0.667): 95 % t interval
    d = paired_difference({0: 0.61, 1: 0.64, 2: 0.60}, {0: 0.55, 1: 0.60, 2: 0.57})
    d.mean, d.low, d.high, d.p                          # A - B over the seeds both have
    pairwise_differences({"a": {...}, "b": {...}, "c": {...}})   # every pair, Holm over the pairs

Seed ``k`` of two sets shares the evaluation items and windows (and, for ``resample`` draws, the
same row indices), so sets are compared *paired* over the seeds both have: the difference per
seed, its mean with a t interval (n - 1 degrees of freedom) and a two-sided paired t-test. Many
pairs make some small p-values by chance; Holm's step-down correction (Holm 1979) keeps the
chance of any false "A beats B" among them at 0.05. Ji et al. 2024 and Williams & Aletras 2024
show the spread over draws is as large as many differences between sets, hence all of this.
Pure functions on plain dicts (``{seed: value}``); scipy only for the t distribution.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import combinations

ALPHA = 0.05


def _finite(values: Iterable[float | None]) -> list[float]:
    return [float(x) for x in values if x is not None and math.isfinite(float(x))]


def mean_ci(values: Iterable[float | None], level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): t interval with n - 1 degrees of freedom; a single value has no width;
    no finite value gives three NaNs."""
    from scipy import stats

    v = _finite(values)
    if not v:
        return (float("nan"),) * 3
    m = sum(v) / len(v)
    if len(v) < 2:
        return m, m, m
    sd = math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1))
    h = float(stats.t.ppf(0.5 + level / 2, len(v) - 1)) * sd / math.sqrt(len(v))
    return m, m - h, m + h


def holm(pvalues: Mapping[str, float]) -> dict[str, float]:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1)."""
    order = sorted(pvalues, key=lambda k: pvalues[k])
    out, running, n = {}, 0.0, len(order)
    for i, k in enumerate(order):
        running = max(running, min(1.0, (n - i) * pvalues[k]))
        out[k] = running
    return out


@dataclass(frozen=True)
class PairedDifference:
    """A - B over the seeds both have: mean, 95 % interval, raw two-sided paired-t p-value."""

    n: int  # shared seeds
    mean: float
    low: float
    high: float
    p: float  # NaN below 2 seeds, or when every difference is 0


def paired_difference(a: Mapping[int, float], b: Mapping[int, float], level: float = 0.95) -> PairedDifference:
    """Paired comparison of two sets' per-seed values ``{seed: value}``.

    Differences that are all equal and non-zero (no spread, a consistent gap) get p = 0; all
    zero, or fewer than 2 shared seeds, get p = NaN (nothing to test)."""
    from scipy import stats

    seeds = sorted(set(a) & set(b))
    x = [float(a[k]) for k in seeds]
    y = [float(b[k]) for k in seeds]
    diffs = [u - v for u, v in zip(x, y, strict=True)]
    m, lo, hi = mean_ci(diffs, level)
    if len(seeds) < 2 or max(diffs) == min(diffs):
        p = 0.0 if len(seeds) >= 2 and diffs[0] != 0 else float("nan")
    else:
        p = float(stats.ttest_rel(x, y).pvalue)
    return PairedDifference(len(seeds), m, lo, hi, p)


def _adjust(raw: Mapping[str, float]) -> dict[str, float]:
    """Holm over the finite p-values; NaN stays NaN (it was never a test)."""
    finite = {k: v for k, v in raw.items() if math.isfinite(v)}
    adj = holm(finite) if finite else {}
    return {k: adj.get(k, float("nan")) for k in raw}


def paired_vs_best(per_seed: Mapping[str, Mapping[int, float]]) -> tuple[str, dict[str, float]]:
    """The set with the highest mean and the Holm-adjusted paired-t p-value of every other set
    against it, over the seeds both have (NaN when fewer than 2 shared seeds or no variance)."""
    means = {s: sum(v.values()) / len(v) for s, v in per_seed.items() if v}
    best = max(sorted(means), key=lambda s: means[s])
    raw = {s: paired_difference(per_seed[best], per_seed[s]).p for s in sorted(means) if s != best}
    return best, _adjust(raw)


@dataclass(frozen=True)
class PairRow:
    """One pair of one family: ``a - b`` with its interval, raw and Holm-adjusted p-values."""

    a: str
    b: str
    diff: PairedDifference
    p_holm: float

    @property
    def distinguishable(self) -> bool:
        """True when the Holm-adjusted p-value is below :data:`ALPHA`."""
        return math.isfinite(self.p_holm) and self.p_holm < ALPHA


def pairwise_differences(per_seed: Mapping[str, Mapping[int, float]], level: float = 0.95) -> list[PairRow]:
    """Every pair (a, b) of sets, a before b in name order: the paired difference a - b over their
    shared seeds, its interval, and its p-value Holm-corrected over all the pairs given (one
    family: call once per dimension)."""
    names = sorted(s for s, v in per_seed.items() if v)
    diffs = {(a, b): paired_difference(per_seed[a], per_seed[b], level) for a, b in combinations(names, 2)}
    adj = _adjust({f"{a}\x00{b}": d.p for (a, b), d in diffs.items()})
    return [PairRow(a, b, d, adj[f"{a}\x00{b}"]) for (a, b), d in diffs.items()]
