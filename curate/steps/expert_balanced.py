"""Expert-balanced selection: choose pool samples so that every expert of a MoE gets tokens.

    pool_size: 64
    n_samples: 16
    model: {name: smollm2-135m-moe}
    steps:
      - {type: expert_balanced}

A calibration set reaches each expert of a mixture-of-experts only through the router; a set
whose tokens all go to a few experts leaves the others with no statistics (MoEQuant, Hu et al.
ICML 2025, Sec. 3: inter-expert imbalance). This step measures, in one forward pass over the
pool (:func:`curate.moe.routing.routing_counts`, router hooks, no lm_head), the tokens each
sample sends to each expert of each MoE layer, (N, R, E), then selects greedily:

    S = {};  repeat n times:  S += argmax_{i not in S}  objective(load(S) + counts_i)

with ``objective`` the mean over layers of the normalised entropy of the summed load (the very
statistic the ``expert_coverage`` scorer reports; ties: the lowest pool index). Greedy
maximisation of a concave spread measure adds, at each step, the sample whose tokens go where
the set is thinnest. Pure function: :func:`greedy_balance`.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from curate.records import Sample
from curate.steps.base import Step, StepSpec


def _objective(load: np.ndarray) -> np.ndarray:
    """(..., R, E) loads -> (...,) mean over layers of the normalised load entropy."""
    tot = load.sum(-1, keepdims=True)
    p = np.divide(load, tot, out=np.zeros_like(load, dtype=np.float64), where=tot > 0)
    logp = np.log(np.where(p > 0, p, 1.0))
    return (-(p * logp).sum(-1) / np.log(load.shape[-1])).mean(-1)


def greedy_balance(counts: np.ndarray, n: int) -> tuple[list[int], list[float]]:
    """Indices (in pick order) of ``n`` rows of ``counts`` (N, R, E) chosen greedily to maximise
    the mean normalised entropy of their summed load, and the objective after each pick."""
    c = np.asarray(counts, dtype=np.float64)
    if n > len(c):
        raise ValueError(f"expert-balanced selection needs a pool of at least n={n} samples, got {len(c)}")
    load = np.zeros(c.shape[1:])
    free = np.ones(len(c), dtype=bool)
    picked, trace = [], []
    for _ in range(n):
        score = _objective(load[None] + c)  # (N,) objective if each sample were added
        score[~free] = -np.inf
        i = int(np.argmax(score))  # argmax: the lowest index among equal scores
        picked.append(i)
        trace.append(float(score[i]))
        free[i] = False
        load += c[i]
    return picked, trace


class ExpertBalancedSpec(StepSpec):
    """Recipe block: keep ``n`` (default: n_samples) pool samples that even out expert load
    (set-level ``steps``, over a pool; the recipe's model must be a mixture-of-experts)."""

    type: Literal["expert_balanced"]
    n: int | None = Field(default=None, gt=0)
    selects: ClassVar[bool] = True


class ExpertBalancedStep(Step):
    """Recipe step ``{type: expert_balanced}``: greedy selection on the routing histogram."""

    kind = "selector"

    def __init__(self, spec, target: int, seed: int = 0, **_):
        super().__init__(name="expert_balanced")
        self.spec, self.target = spec, target

    def process(self, samples: list[Sample], ctx: Any) -> list[Sample]:
        from curate.moe.routing import routing_counts

        n = min(self.spec.n or self.target, len(samples))
        rc = routing_counts(ctx.model, [s.input_ids for s in samples], batch_size=ctx.batch_size,
                            progress=getattr(ctx, "progress", False))
        order, trace = greedy_balance(rc.counts, n)
        pool = float(_objective(rc.counts.sum(0).astype(np.float64)))
        self.stats.extra["expert_balanced"] = {
            "pool": len(samples), "kept": n, "moe_layers": len(rc.layers),
            "pool_entropy": round(pool, 6), "kept_entropy": round(trace[-1], 6) if trace else None}
        self.stats.drop("not_expert_balanced", len(samples) - n)
        return [samples[i] for i in sorted(order)]
