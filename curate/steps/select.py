"""Selection by score -- the ONE rule every "keep a fraction" step uses -- and the select step.

    from curate.steps.select import keep_count, drop_count, rank_select, select_best
    keep_count(10, 0.25)                     # 3: ceil(n * f)
    drop_count(10, 0.25)                     # 2: floor(n * f)
    apportion(10, [1, 1, 1])                 # [4, 3, 3]: counts that sum to the total exactly
    r = select_best([0.3, nan, 0.9, 0.1], 2, "highest")
    r.kept, r.nan                            # [0, 2], [1]

The rule (used by the select step, the perplexity filter and every scorer's ``keep``):

- **Rounding.** Dropping a fraction ``d`` of ``n`` drops ``floor(n * d)``; keeping a fraction
  ``f`` keeps ``ceil(n * f)`` -- the same thing, since ``keep f`` is ``drop 1 - f``. A fraction
  to drop is never exceeded: Ji et al. 2024 (Sec. 3.2) drop "the top 20 %" of generations by
  perplexity, ``int(0.2 * n)`` samples in the usual implementation, so 0.2 of 9 drops 1, not 2.
  (A 1e-9 slack absorbs binary fractions: 0.7 * 10 = 7.000000000000001 still drops 7.)
- **NaN.** A sample whose score is NaN (or missing from the values) is never ranked: it is
  dropped with reason ``nan_score`` and counted, and the fractions apply to the ``n`` samples
  with a real score.
- **Ties** are broken by position: among equal scores the earlier sample is kept, so the
  result is deterministic and independent of the sort implementation.

Detection-based selection of Ji et al. 2024 ("Beware of Calibration Data", Sec. 3.4) keeps the
pool samples that a membership-inference score (Min-K%++) flags as most training-like:

    steps:
      - {type: sample, oversample: 4}
      - {type: score, scorer: min_k_pp, k: 0.5}
      - {type: select, by: min_k_pp, order: highest}
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from curate.errors import RecipeError
from curate.records import Sample
from curate.steps.base import Step, StepSpec, StepStats

NAN_REASON = "nan_score"
_SLACK = 1e-9  # absorbs binary floating-point error in n * fraction


def drop_count(n: int, fraction: float) -> int:
    """How many of ``n`` samples dropping ``fraction`` removes: floor(n * fraction)."""
    return min(n, max(0, math.floor(n * fraction + _SLACK)))


def keep_count(n: int, fraction: float) -> int:
    """How many of ``n`` samples keeping ``fraction`` keeps: ceil(n * fraction) = n - drop_count(n, 1 - fraction)."""
    return n - drop_count(n, 1.0 - fraction)


@dataclass(frozen=True)
class Selection:
    """Indices (ascending) of the kept samples and of the dropped ones, by why they were dropped."""

    kept: list[int]
    high: list[int] = field(default_factory=list)  # dropped as the highest scores
    low: list[int] = field(default_factory=list)  # dropped as the lowest scores
    nan: list[int] = field(default_factory=list)  # dropped: NaN / missing score

    def count_nan(self, stats: StepStats) -> None:
        stats.drop(NAN_REASON, len(self.nan))


def apportion(total: int, weights: list[float]) -> list[int]:
    """Largest-remainder (Hamilton) apportionment: counts sum exactly to ``total``; ties go to
    the earlier component so the result is deterministic."""
    s = float(sum(weights))
    quotas = [total * w / s for w in weights]
    counts = [int(q) for q in quotas]
    order = sorted(range(len(weights)), key=lambda i: (-(quotas[i] - counts[i]), i))
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


def _is_nan(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def rank_select(values: Sequence[float | None], *, drop_high: int = 0, drop_low: int = 0) -> Selection:
    """Drop the ``drop_high`` highest and ``drop_low`` lowest real values; NaN/None always dropped.

    Counts beyond the number of real values are clipped (the highest go first). Ties: among
    equal values the earlier sample is kept, at either end.
    """
    vals = [float("nan") if v is None else float(v) for v in values]
    nan = [i for i, v in enumerate(vals) if math.isnan(v)]
    real = [i for i, v in enumerate(vals) if not math.isnan(v)]
    n = len(real)
    drop_high = min(max(0, drop_high), n)
    drop_low = min(max(0, drop_low), n - drop_high)
    ascending = sorted(real, key=lambda i: (vals[i], i))  # ties: the later index ranks higher
    high = ascending[n - drop_high:]
    rest = ascending[: n - drop_high]
    low = sorted(rest, key=lambda i: (vals[i], -i))[:drop_low]  # ties: the later index ranks lower
    low_set = set(low)
    return Selection(kept=sorted(i for i in rest if i not in low_set), high=sorted(high), low=sorted(low), nan=nan)


def select_best(values: Sequence[float | None], n: int, order: str) -> Selection:
    """Keep the ``n`` highest (``order="highest"``) or lowest real values; see the module rule."""
    if order not in ("highest", "lowest"):
        raise ValueError(f"order must be 'highest' or 'lowest', got {order!r}")
    real = sum(1 for v in values if not _is_nan(v))
    surplus = max(0, real - n)
    return rank_select(values, drop_low=surplus) if order == "highest" else rank_select(values, drop_high=surplus)


class SelectStep(Step):
    kind = "selector"

    def __init__(self, spec, target: int | None = None, seed: int = 0, **_):
        super().__init__(name=f"select:{spec.order}:{spec.by or ''}".rstrip(":"))
        self.spec, self.target, self.seed = spec, target, seed

    def process(self, samples: list[Sample], ctx: Any) -> list[Sample]:
        s = self.spec
        if s.order == "random":
            n = min(s.n or (keep_count(len(samples), s.fraction) if s.fraction else self.target) or len(samples),
                    len(samples))
            keep = sorted(random.Random(f"{self.seed}:select").sample(range(len(samples)), n))
            self.stats.drop(f"not_in_random_{n}", len(samples) - n)
            return [samples[i] for i in keep]
        missing = [x for x in samples if s.by not in x.scores]
        if missing:
            raise RecipeError(f"select by '{s.by}': {len(missing)} samples have no such score",
                              hint=f"add a '{{type: score, scorer: {s.by}}}' step before it")
        values = [x.scores[s.by] for x in samples]
        real = sum(1 for v in values if not _is_nan(v))
        n = min(s.n or (keep_count(real, s.fraction) if s.fraction else self.target) or real, real)
        sel = select_best(values, n, s.order)
        sel.count_nan(self.stats)
        self.stats.drop(f"not_in_{s.order}_{n}", len(sel.high) + len(sel.low))
        return [samples[i] for i in sel.kept]


class SelectSpec(StepSpec):
    """Keep the ``n`` (or ``fraction``) samples with the highest/lowest score, or at random."""

    type: Literal["select"]
    by: str | None = None  # a score name; None with order=random
    order: Literal["highest", "lowest", "random"] = "highest"
    n: int | None = Field(default=None, gt=0)  # default: the component's target count
    fraction: float | None = Field(default=None, gt=0, le=1)
    selects: ClassVar[bool] = True

    @model_validator(mode="after")
    def _check(self):
        if self.order != "random" and not self.by:
            raise ValueError("'by' is required unless order is 'random'")
        if self.n is not None and self.fraction is not None:
            raise ValueError("give either 'n' or 'fraction', not both")
        return self
