"""Scores of calibration samples and sets: model-based, reference similarity, n-grams, diversity.

    from curate.scoring import compute_model_scores, SCORERS, build_scorer
    scores = compute_model_scores(model, input_ids, scores=("ppl", "min_k_pp"), k=0.5)
    step = build_scorer("min_k_pp", k=0.5)       # a curate Step of kind "scorer"
    SCORERS.names()                              # every registered scorer

Modules: :mod:`~curate.scoring.functional` (pure math), :mod:`~curate.scoring.logprobs` (the
one token log-prob kernel: chunked lm_head, logit soft-cap, never (B, T, V) logits; also
behind evaluation perplexity), :mod:`~curate.scoring.model_scores` (one forward pass per batch
through that kernel), :mod:`~curate.scoring.minhash` (vectorised datasketch-compatible
MinHash, the near-duplicate rule shared with the dedup step, datatrove reference pipeline),
:mod:`~curate.steps.scorers` (recipe steps), :mod:`~curate.scoring.compare` (parquet,
JSON/markdown summaries, plots).
Heavy imports (torch, datasketch, datatrove) happen only when a function or scorer is used.
"""

from __future__ import annotations

from typing import Any

from curate.registry import Registry

SCORERS = Registry("scorer", entry_point_group="curate.scorers")
SCORERS.register("model_scores", "curate.steps.scorers:ModelScores")
SCORERS.register("perplexity", "curate.steps.scorers:Perplexity")
SCORERS.register("min_k", "curate.steps.scorers:MinK")
SCORERS.register("min_k_pp", "curate.steps.scorers:MinKPlusPlus")
SCORERS.register("entropy", "curate.steps.scorers:Entropy")
SCORERS.register("minhash_jaccard", "curate.steps.scorers:MinHashJaccard")
SCORERS.register("ngram_aggregation", "curate.steps.scorers:NgramAggregation")
SCORERS.register("diversity", "curate.steps.scorers:Diversity")
SCORERS.register("expert_coverage", "curate.steps.expert_coverage:ExpertCoverage")


def build_scorer(name: str, **params: Any):
    """Instantiate the scorer registered as ``name``; unknown parameters fail with a hint."""
    from curate.steps.scorers import check_params

    cls = SCORERS.get(name)
    check_params(cls, params, name)
    return cls(**params)


def compute_model_scores(model, input_ids, attention_mask=None, scores=("ppl", "min_k", "min_k_pp", "entropy"),
                         k: float = 0.5, batch_size: int = 8, progress: bool = True, **kw: Any):
    """See :func:`curate.scoring.model_scores.compute_model_scores` (imported lazily: torch)."""
    from curate.scoring.model_scores import compute_model_scores as _impl

    return _impl(model, input_ids, attention_mask=attention_mask, scores=scores, k=k,
                 batch_size=batch_size, progress=progress, **kw)


__all__ = ["SCORERS", "build_scorer", "compute_model_scores"]
