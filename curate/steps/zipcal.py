"""ZipCal-style model-free selection for lexical diversity (after Monaco et al. 2026).

    pool_size: 160
    n_samples: 40
    steps:
      - {type: zipcal}

ZipCal picks calibration text by Zipf's law, without running the model. The paper is not
available offline; what this step does, exactly:

* Word types are lower-cased ``\\w+`` tokens (:func:`curate.scoring.functional.words`).
* **Objective**: the number of distinct word types the set covers. Natural text follows Zipf's
  law (frequency ~ rank^-alpha), so a set drawn at random spends most of its tokens on the same
  few hundred frequent types; covering more types flattens the set's rank-frequency curve.
* **Search**: greedy. Each step adds the pool sample with the most word types not yet covered,
  per word of the sample (so long samples do not win by length alone); ties go to the sample
  whose new types are rarer in the pool (lower mean log pool frequency), then to the lower
  index. This is the classic greedy for maximum coverage ((1 - 1/e) of the optimum).
* **Reported**: types covered and the Zipf exponent alpha (least-squares slope of log frequency
  on log rank over the types seen at least twice,
  :func:`curate.scoring.functional.zipf_exponent`) of the selected set
  next to the whole pool's, in the step's stats (manifest and card).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from pydantic import Field

from curate.records import Sample
from curate.steps.base import Step, StepSpec


def zipcal_select(texts: Sequence[str], n: int) -> tuple[list[int], dict[str, Any]]:
    """Greedy maximum type coverage: (selected indices in pool order, info)."""
    from curate.scoring.functional import words, zipf_exponent

    if n > len(texts):
        raise ValueError(f"ZipCal needs a pool of at least n={n} samples, got {len(texts)}")
    toks = [words(t) for t in texts]
    types = [set(t) for t in toks]
    pool_freq = Counter(w for t in toks for w in t)
    logf = {w: math.log(c) for w, c in pool_freq.items()}
    covered: set[str] = set()
    chosen: list[int] = []
    left = set(range(len(texts)))
    def key(i: int, covered: set[str]) -> tuple[float, float, int]:
        new = types[i] - covered
        rarity = sum(logf[w] for w in new) / len(new) if new else math.inf
        return (-len(new) / max(len(toks[i]), 1), rarity, i)

    for _ in range(n):
        best = min(left, key=lambda i: key(i, covered))
        chosen.append(best)
        covered |= types[best]
        left.discard(best)
    picked = sorted(chosen)
    # Hapaxes (types seen once) form a flat tail that biases the slope: fit over f >= 2.
    info = {"types_covered": len(covered), "pool_types": len(pool_freq),
            "zipf_alpha_selected": round(zipf_exponent([w for i in picked for w in toks[i]], min_count=2), 4),
            "zipf_alpha_pool": round(zipf_exponent([w for t in toks for w in t], min_count=2), 4)}
    return picked, info


class ZipCalSpec(StepSpec):
    """Recipe block of ZipCal-style model-free selection (Monaco et al. 2026): greedy word-type
    coverage (set-level ``steps``, over a pool)."""

    type: Literal["zipcal"]
    n: int | None = Field(default=None, gt=0)
    selects: ClassVar[bool] = True


class ZipCalStep(Step):
    """Recipe step ``{type: zipcal}``: keep ``n`` (default: n_samples) samples by type coverage."""

    kind = "selector"

    def __init__(self, spec, target: int, seed: int = 0, **_):
        super().__init__(name="zipcal")
        self.spec, self.target, self.seed = spec, target, seed

    def process(self, samples: list[Sample], ctx: Any) -> list[Sample]:
        n = min(self.spec.n or self.target, len(samples))
        idx, info = zipcal_select([s.text for s in samples], n)
        self.stats.extra["zipcal"] = info
        self.stats.drop("zipcal_not_selected", len(samples) - len(idx))
        return [samples[i] for i in idx]
