"""Selection by score: keep the n samples with the highest/lowest score, or n at random.

Detection-based selection of Ji et al. 2024 ("Beware of Calibration Data", §3.4) keeps the
pool samples that a membership-inference score (Min-K%++) flags as most training-like:

    steps:
      - {type: sample, oversample: 4}
      - {type: score, scorer: min_k_pp, k: 0.5}
      - {type: select, by: min_k_pp, order: highest}
"""

from __future__ import annotations

import math
import random
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from curate.errors import RecipeError
from curate.records import Sample
from curate.steps.base import Step, StepSpec


def select_indices(values: list[float], n: int, order: str, rng: random.Random | None = None) -> list[int]:
    """Indices of the chosen samples, in their original order (ties broken by index)."""
    idx = list(range(len(values)))
    if order == "random":
        chosen = (rng or random.Random(0)).sample(idx, n)
    elif order == "highest":
        chosen = sorted(idx, key=lambda i: (-values[i], i))[:n]
    else:
        chosen = sorted(idx, key=lambda i: (values[i], i))[:n]
    return sorted(chosen)


class SelectStep(Step):
    kind = "selector"

    def __init__(self, spec, target: int | None = None, seed: int = 0, **_):
        super().__init__(name=f"select:{spec.order}:{spec.by or ''}".rstrip(":"))
        self.spec, self.target, self.seed = spec, target, seed

    def process(self, samples: list[Sample], ctx: Any) -> list[Sample]:
        s = self.spec
        n = s.n or (math.floor(len(samples) * s.fraction + 1e-9) if s.fraction else self.target) or len(samples)
        n = min(n, len(samples))
        values: list[float] = []
        if s.order != "random":
            missing = [x for x in samples if s.by not in x.scores]
            if missing:
                raise RecipeError(f"select by '{s.by}': {len(missing)} samples have no such score",
                                  hint=f"add a '{{type: score, scorer: {s.by}}}' step before it")
            values = [x.scores[s.by] for x in samples]
        keep = select_indices(values or [0.0] * len(samples), n, s.order, random.Random(f"{self.seed}:select"))
        self.stats.drop(f"not_in_{s.order}_{n}", len(samples) - len(keep))
        return [samples[i] for i in keep]


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
