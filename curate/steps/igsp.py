"""IGSP: build a multi-source calibration mix by minimising 4-gram aggregation while keeping
perplexity balanced (Xu et al. 2026, arXiv 2606.03328).

    components:                        # a pool from several sources, 4x the set size
      - {source: {type: bundled, name: wikipedia}, steps: [{type: sample}]}
      - {source: {type: bundled, name: python-stdlib}, steps: [{type: sample}]}
    pool_size: 160
    n_samples: 40
    steps:
      - {type: igsp, ngram: 4, strata: 4}

Only the paper's abstract is public, so this is our reading of it, stated precisely:

* **Objective** (to minimise): the set's n-gram aggregation A(S) = R(S) / T(S), where T(S) is the
  number of word n-gram occurrences in the selected samples and R(S) the occurrences whose n-gram
  occurs in at least two selected samples (``curate.scoring.functional.ngram_aggregation``'s
  ``repeat_share``). Low aggregation = the calibration tokens are spread over many distinct
  contexts instead of concentrating on a few recurring phrases.
* **Balance**: each pool sample gets a perplexity stratum (global quantiles of log-perplexity
  under the model, ``strata`` bins) and a group (its source, the proxy of a capability dimension;
  no capability labels are needed). The n slots are apportioned equally over groups, then
  equally over the strata within each group (largest remainder; a cell short of candidates
  passes its slots to the same group's other strata, then to other groups). Every group thus
  contributes low-, mid- and high-perplexity text in equal measure.
* **Search**: (1) greedy construction: fill the cells one slot at a time, each time adding the
  candidate of that cell with the lowest resulting A(S); (2) local search: swap a selected sample
  for an unselected one *of the same cell* whenever that lowers A(S) (first improvement, sweeps
  until none improves or ``max_sweeps``). Swaps stay inside cells, so quotas never change, and
  only improving swaps are accepted, so A(S) decreases monotonically during (2); the trace is
  recorded in the manifest.
"""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from collections.abc import Hashable, Sequence
from typing import Any, ClassVar, Literal

from pydantic import Field

from curate.records import Sample
from curate.steps.base import Step, StepSpec


class Aggregation:
    """Incremental R(S), T(S) of the n-gram aggregation objective over a changing set."""

    def __init__(self):
        self.occ: Counter = Counter()  # n-gram -> occurrences in S
        self.df: Counter = Counter()  # n-gram -> number of samples of S containing it
        self.repeated = 0  # R(S)
        self.total = 0  # T(S)

    def add(self, grams: Counter) -> None:
        for g, c in grams.items():
            df = self.df[g]
            if df == 1:  # g becomes repeated: its existing occurrences start to count
                self.repeated += self.occ[g]
            if df >= 1:
                self.repeated += c
            self.df[g] = df + 1
            self.occ[g] += c
            self.total += c

    def remove(self, grams: Counter) -> None:
        for g, c in grams.items():
            df = self.df[g]
            if df >= 2:
                self.repeated -= c
            if df == 2:  # g stops being repeated
                self.repeated -= self.occ[g] - c
            self.df[g] = df - 1
            self.occ[g] -= c
            self.total -= c
            if self.df[g] == 0:
                del self.df[g], self.occ[g]

    @property
    def value(self) -> float:
        return self.repeated / self.total if self.total else 0.0

    def value_if_added(self, grams: Counter) -> float:
        self.add(grams)
        v = self.value
        self.remove(grams)
        return v

    def value_if_swapped(self, out: Counter, into: Counter) -> float:
        self.remove(out)
        self.add(into)
        v = self.value
        self.remove(into)
        self.add(out)
        return v


def strata_of(values: Sequence[float], k: int) -> list[int]:
    """Quantile bin (0..k-1) of each value, by rank (ties broken by index)."""
    n = len(values)
    order = sorted(range(n), key=lambda i: (values[i], i))
    out = [0] * n
    for rank, i in enumerate(order):
        out[i] = min(k - 1, rank * k // max(n, 1))
    return out


def cell_quotas(cells: Sequence[tuple[Hashable, int]], n: int, k: int) -> dict[tuple[Hashable, int], int]:
    """Slots per (group, stratum): equal over groups, then over strata; capped by availability."""
    # The recipe's component apportionment; imported here because the recipe imports this step.
    from curate.recipe import apportion

    avail = Counter(cells)
    groups = sorted({g for g, _ in cells}, key=str)
    if n > len(cells):
        raise ValueError(f"IGSP needs a pool of at least n={n} samples, got {len(cells)}")
    per_group = dict(zip(groups, apportion(n, [1.0] * len(groups)), strict=True))
    # Cap groups by availability and hand the surplus to groups with room, round robin.
    cap = {g: sum(avail[(g, s)] for s in range(k)) for g in groups}
    surplus = sum(max(0, per_group[g] - cap[g]) for g in groups)
    per_group = {g: min(per_group[g], cap[g]) for g in groups}
    while surplus:
        for g in groups:
            if surplus and per_group[g] < cap[g]:
                per_group[g] += 1
                surplus -= 1
    quotas: dict[tuple[Hashable, int], int] = {}
    for g in groups:
        want = dict(zip(range(k), apportion(per_group[g], [1.0] * k), strict=True))
        spare = 0
        for s in range(k):
            take = min(want[s], avail[(g, s)])
            spare += want[s] - take
            quotas[(g, s)] = take
        for s in sorted(range(k), key=lambda s: -(avail[(g, s)] - quotas[(g, s)])):
            extra = min(spare, avail[(g, s)] - quotas[(g, s)])
            quotas[(g, s)] += extra
            spare -= extra
    return quotas


def igsp_select(texts: Sequence[str], ppl: Sequence[float], groups: Sequence[Hashable], n: int, *,
                ngram: int = 4, strata: int = 4, max_sweeps: int = 20,
                rng: random.Random | None = None) -> tuple[list[int], dict[str, Any]]:
    """Return (selected indices in pool order, info with quotas and the objective trace)."""
    from curate.scoring.functional import ngrams, words

    rng = rng or random.Random(0)
    grams = [Counter(ngrams(words(t), ngram)) for t in texts]
    stratum = strata_of([math.log(max(p, 1e-9)) for p in ppl], strata)
    cells = [(groups[i], stratum[i]) for i in range(len(texts))]
    quotas = cell_quotas(cells, n, strata)
    members: dict[tuple[Hashable, int], list[int]] = defaultdict(list)
    for i, c in enumerate(cells):
        members[c].append(i)
    for c in members:  # seeded candidate order: ties in the objective go to an arbitrary but fixed sample
        rng.shuffle(members[c])

    agg = Aggregation()
    chosen: set[int] = set()
    construct_trace: list[float] = []
    # (1) greedy construction, cells visited round-robin so that no cell fills first
    remaining = dict(quotas)
    while any(remaining.values()):
        for c in sorted(remaining, key=str):
            if not remaining[c]:
                continue
            best = min((i for i in members[c] if i not in chosen), key=lambda i: agg.value_if_added(grams[i]))
            agg.add(grams[best])
            chosen.add(best)
            remaining[c] -= 1
            construct_trace.append(agg.value)
    # (2) first-improvement swaps inside cells; only strict improvements are accepted
    trace = [agg.value]
    for _ in range(max_sweeps):
        improved = False
        for _cell, idx in sorted(members.items(), key=lambda kv: str(kv[0])):
            inside = [i for i in idx if i in chosen]
            for out in inside:
                outside = [i for i in idx if i not in chosen]
                if not outside:
                    break
                best_in, best_v = None, agg.value
                for cand in outside:
                    v = agg.value_if_swapped(grams[out], grams[cand])
                    if v < best_v - 1e-12:
                        best_in, best_v = cand, v
                if best_in is not None:
                    agg.remove(grams[out])
                    agg.add(grams[best_in])
                    chosen.discard(out)
                    chosen.add(best_in)
                    trace.append(agg.value)
                    improved = True
        if not improved:
            break
    picked = sorted(chosen)
    info = {
        "objective": "ngram_repeat_share",
        "ngram": ngram,
        "strata": strata,
        "initial_objective": construct_trace[-1] if construct_trace else 0.0,
        "final_objective": agg.value,
        "swaps": len(trace) - 1,
        "trace": [round(v, 6) for v in trace],
        "quotas": {f"{g}|{s}": q for (g, s), q in sorted(quotas.items(), key=lambda kv: str(kv[0])) if q},
        "selected_per_cell": {f"{g}|{s}": sum(1 for i in picked if cells[i] == (g, s))
                              for (g, s) in sorted(quotas, key=str) if quotas[(g, s)]},
    }
    return picked, info


class IGSPSpec(StepSpec):
    """Recipe block of IGSP selection (set-level ``steps``, over a pool of pool_size samples)."""

    type: Literal["igsp"]
    n: int | None = Field(default=None, gt=0)
    ngram: int = Field(default=4, ge=1)
    strata: int = Field(default=4, ge=1)
    balance_by: Literal["perplexity"] = "perplexity"
    group_by: Literal["source", "none"] = "source"
    selects: ClassVar[bool] = True


class IGSPStep(Step):
    """Recipe step ``{type: igsp}``: select ``n`` (default: the recipe's n_samples) from the pool."""

    kind = "selector"

    def __init__(self, spec, target: int, seed: int = 0, **_):
        super().__init__(name="igsp")
        self.spec, self.target, self.seed = spec, target, seed

    def process(self, samples: list[Sample], ctx: Any) -> list[Sample]:
        from curate.steps.filters import ensure_ppl

        ppl = ensure_ppl(samples, ctx)
        n = self.spec.n or self.target
        groups = [s.source if self.spec.group_by == "source" else "all" for s in samples]
        idx, info = igsp_select([s.text for s in samples], ppl, groups, n,
                                ngram=self.spec.ngram, strata=self.spec.strata, rng=random.Random(self.seed))
        self.stats.extra["igsp"] = info
        self.stats.drop("igsp_not_selected", len(samples) - len(idx))
        return [samples[i] for i in idx]
