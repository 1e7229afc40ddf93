"""Scores of calibration samples and sets: model-based, reference similarity, n-grams, diversity.

    from curate.scoring import compute_model_scores
    scores = compute_model_scores(model, input_ids, scores=("ppl", "min_k_pp"), k=0.5)

Modules: :mod:`~curate.scoring.functional` (pure math), :mod:`~curate.scoring.logprobs` (the
one token log-prob kernel: chunked lm_head, logit soft-cap, never (B, T, V) logits; also
behind evaluation perplexity), :mod:`~curate.scoring.model_scores` (one forward pass per batch
through that kernel), :mod:`~curate.scoring.minhash` (vectorised datasketch-compatible
MinHash, the near-duplicate rule shared with the dedup step, datatrove reference pipeline),
and nothing else: the scorer *steps* built on them (:data:`curate.steps.score.SCORERS`) live in
:mod:`curate.steps.scorers`, and ``curate score`` (parquet, JSON/markdown summaries, plots) is
:mod:`curate.score`.
Heavy imports (torch, datasketch, datatrove) happen only when a function or scorer is used.
"""

from __future__ import annotations

from typing import Any


def compute_model_scores(model, input_ids, attention_mask=None, scores=("ppl", "min_k", "min_k_pp", "entropy"),
                         k: float = 0.5, batch_size: int = 8, progress: bool = True, **kw: Any):
    """See :func:`curate.scoring.model_scores.compute_model_scores` (imported lazily: torch)."""
    from curate.scoring.model_scores import compute_model_scores as _impl

    return _impl(model, input_ids, attention_mask=attention_mask, scores=scores, k=k,
                 batch_size=batch_size, progress=progress, **kw)


__all__ = ["compute_model_scores"]
