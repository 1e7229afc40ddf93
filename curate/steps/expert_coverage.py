"""The ``expert_coverage`` scorer: how evenly a set's tokens reach a mixture-of-experts' experts.

    curate score out/default --model <MoE folder> --scores expert_coverage --out runs/cov

    steps:
      - {type: score, scorer: expert_coverage, min_tokens: 8}

Compressors collect each expert's statistics (Hessians, input norms) from the calibration tokens
routed to it; an expert that few tokens reach is compressed blind (GPTQModel falls back to RTN
below 0.5 % of the tokens; MoEQuant, Hu et al. ICML 2025, attribute much of the accuracy loss of
quantized MoEs to this inter-expert imbalance). One forward pass of the decoder stack with hooks
on the routers (:mod:`curate.moe.routing`) gives the tokens per expert of every MoE layer; the
set-level result (``stats.extra["expert_coverage"]``) holds per layer the loads, the normalised
entropy, the experts under ``min_tokens`` (default: 0.5 % of the set's tokens) and max/min load.
Per sample, ``expert_entropy`` is the mean over layers of the sample's own load entropy.
A dense model is refused with one line.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from curate.errors import CurateError
from curate.records import Sample
from curate.steps.scorers import ModelScores, Scorer


class ExpertCoverage(Scorer):
    """Routing histograms per MoE layer from one pass; per-sample ``expert_entropy``."""

    name_ = "expert_coverage"
    outputs = ("expert_entropy",)
    paper = "MoEQuant (Hu et al., ICML 2025): inter-expert imbalance of calibration tokens"

    def __init__(self, min_tokens: int | None = None, max_length: int = 2048, batch_size: int | None = None,
                 **kw: Any):
        super().__init__(**kw)
        if min_tokens is not None and min_tokens < 1:
            raise CurateError(f"scorer {self.name}: min_tokens={min_tokens} must be >= 1")
        self.min_tokens, self.max_length, self.batch_size = min_tokens, max_length, batch_size
        self._coverage: dict[str, Any] = {}

    def score(self, samples: list[Sample], ctx: Any) -> dict[str, np.ndarray]:
        from curate.moe.routing import coverage, routing_counts, sample_entropy

        ids = ModelScores._ids(self, samples, ctx)  # the one "input_ids or tokenized text, cut" rule
        rc = routing_counts(ctx.model, ids, batch_size=self.batch_size or getattr(ctx, "batch_size", 8),
                            progress=getattr(ctx, "progress", False))
        self._coverage = coverage(rc.counts.sum(0), int(rc.tokens.sum()), min_tokens=self.min_tokens,
                                  layers=rc.layers, num_experts=rc.num_experts)
        self._coverage["top_k"] = rc.top_k[0]
        return {"expert_entropy": sample_entropy(rc.counts)}

    def set_summary(self, samples: list[Sample], ctx: Any) -> dict[str, Any]:
        return {"expert_coverage": self._coverage}
