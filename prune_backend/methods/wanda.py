"""Wanda: prune by |W_ij| * ||X_j||_2, compared within each output row.

    import torch
    from prune_backend.methods.wanda import wanda_mask
    w, x = torch.randn(8, 16), torch.randn(100, 16)          # weight (out, in), inputs (T, in)
    mask = wanda_mask(w, x.pow(2).sum(0), 0.5)               # sq_norm = ||X_j||^2, (in,)
    mask.sum(1)                                              # 8 per row, exactly

Sun, Liu, Bair, Kolter 2024, "A Simple and Effective Pruning Approach for Large Language
Models" (ICLR 2024, arXiv 2306.11695). Score S_ij = |W_ij| * ||X_j||_2 over all calibration
tokens; the comparison group is each output row (per-output pruning, their Sec. 3), or each run
of M consecutive inputs of a row for N:M (which keeps the N highest scores). No weight update.
"""

from __future__ import annotations

from typing import ClassVar

import torch

from prune_backend.methods.base import LinearStats, PruningMethod
from prune_backend.methods.masks import nm_mask, row_mask


def wanda_score(weight: torch.Tensor, sq_norm: torch.Tensor) -> torch.Tensor:
    """|W| * ||X_j||_2 broadcast over rows: (out, in) * (1, in) -> (out, in), fp32."""
    return weight.abs().float() * sq_norm.float().sqrt().unsqueeze(0)


def wanda_mask(weight: torch.Tensor, sq_norm: torch.Tensor, sparsity: float,
               nm: tuple[int, int] | None = None) -> torch.Tensor:
    score = wanda_score(weight, sq_norm)
    return nm_mask(score, *nm) if nm else row_mask(score, sparsity)


class Wanda(PruningMethod):
    name = "wanda"
    needs: ClassVar[frozenset[str]] = frozenset({"sumsq"})


    def prune(self, weight: torch.Tensor, stats: LinearStats, sparsity: float,
              nm: tuple[int, int] | None) -> tuple[torch.Tensor, torch.Tensor]:
        mask = wanda_mask(weight, stats.sq_norm, sparsity, nm)
        return weight.float().masked_fill(mask, 0.0), mask
