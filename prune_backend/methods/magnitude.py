"""Magnitude pruning: drop the weights of smallest |W| across the whole layer.

    import torch
    from prune_backend.methods.magnitude import magnitude_mask
    w = torch.randn(8, 16)
    magnitude_mask(w, 0.5).sum()        # 64: half of the layer, compared layer-wide

The classical baseline (Han et al. 2015, "Learning both Weights and Connections for Efficient
Neural Networks"; as used for LLMs by Frantar & Alistarh 2023 and Sun et al. 2024): the
comparison group is the whole linear layer for unstructured sparsity, each run of M inputs of a
row for N:M. Needs no calibration data.
"""

from __future__ import annotations

from typing import ClassVar

import torch

from prune_backend.methods.base import LinearStats, PruningMethod
from prune_backend.methods.masks import global_mask, nm_mask


def magnitude_mask(weight: torch.Tensor, sparsity: float, nm: tuple[int, int] | None = None) -> torch.Tensor:
    """Bool mask (True = pruned) of the smallest-|W| entries, layer-wide or per N:M group."""
    score = weight.abs().float()
    return nm_mask(score, *nm) if nm else global_mask(score, sparsity)


class Magnitude(PruningMethod):
    name = "magnitude"
    needs: ClassVar[frozenset[str]] = frozenset()


    def prune(self, weight: torch.Tensor, stats: LinearStats, sparsity: float,
              nm: tuple[int, int] | None) -> tuple[torch.Tensor, torch.Tensor]:
        mask = magnitude_mask(weight, sparsity, nm)
        return weight.float().masked_fill(mask, 0.0), mask
