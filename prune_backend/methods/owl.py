"""OWL: outlier-weighted layerwise sparsity ratios.

    from prune_backend.methods.owl import owl_sparsities
    owl_sparsities([1.0, 3.0, 2.0], target=0.5, lam=0.08)   # [0.58, 0.42, 0.5]: more outliers, less pruning

Yin et al. 2024, "Outlier Weighed Layerwise Sparsity (OWL): A Missing Secret Sauce for Pruning
LLMs to High Sparsity" (ICML 2024, arXiv 2310.05175). For each decoder layer l, the layerwise
outlier distribution D_l is the fraction of weights of all its linears whose activation-weighted
magnitude |W_ij| * ||X_j||_2 exceeds M times the layer's mean (M = 5). The ratios are min-max
scaled into [0, 2 lambda] (lambda = 0.08), shifted to average 1 - S, and layer l keeps that
fraction: S_l = 1 - ratio_l, so S_l lies in [S - lambda, S + lambda] and averages S exactly.
The statistics come from a dense sequential pass over the calibration data, as in the
reference code, before the pruning pass.

Recipe block::

    prune: {method: wanda, sparsity: 0.7, owl: true, owl_m: 5, owl_lambda: 0.08}
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import torch


def outlier_ratio(scores: Sequence[torch.Tensor] | Callable[[], Iterable[torch.Tensor]], m: float = 5.0) -> float:
    """Fraction (in %) of entries, over all ``scores`` of one layer, above ``m`` x their mean.

    ``scores`` may be a callable that returns a fresh iterable of the scores: it is read twice
    (sum, then count), so a caller can make each linear's score on the fly and at most one
    (out, in) score is alive at a time instead of a whole layer's.
    """
    fresh = scores if callable(scores) else (lambda: scores)
    total, acc = 0, 0.0
    for s in fresh():
        total += s.numel()
        acc += float(s.sum(dtype=torch.float64))
    threshold = acc / total * m
    count = sum(int((s > threshold).sum()) for s in fresh())
    return 100.0 * count / total


def owl_sparsities(ratios: Sequence[float], target: float, lam: float = 0.08) -> list[float]:
    """Per-layer sparsity from per-layer outlier ratios D_l (OWL Sec. 3.3)."""
    r = torch.tensor(list(ratios), dtype=torch.float64)
    span = float(r.max() - r.min())
    if span == 0.0:  # no spread in outliers: uniform sparsity
        return [float(target)] * len(r)
    scaled = (r - r.min()) * (2.0 * lam / span)  # in [0, 2 lambda]
    keep = scaled - scaled.mean() + (1.0 - target)  # mean exactly 1 - target
    return [float(1.0 - k) for k in keep]
