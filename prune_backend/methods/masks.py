"""Mask selection shared by every method: exact counts per comparison group, vectorised N:M.

    import torch
    from prune_backend.methods.masks import nm_mask, row_mask
    score = torch.rand(4, 8)
    (~nm_mask(score, 2, 4)).view(4, 2, 4).sum(-1)  # all 2: 2:4 keeps 2 in every group of 4
    nm_mask(score, 1, 4).view(4, 2, 4).sum(-1)     # all 3: 1:4 prunes 3 of every 4
    row_mask(score, 0.5).sum(1)                    # all 4: exactly half of each row

Convention: a mask is a bool tensor shaped like the weight, True = pruned (set to zero). Every
group prunes *exactly* its count (top-k selection), never "all entries <= threshold" (which
over-prunes on ties). N:M is the literature's: N kept (at most N non-zeros) in every M
consecutive inputs of a row, so ``M - N`` pruned.
"""

from __future__ import annotations

import torch


def n_pruned(numel: int, sparsity: float) -> int:
    """Number of entries to prune in a group of ``numel``; rounding guards 0.29 * 100 = 28.99..."""
    return int(round(numel * sparsity))


def row_mask(score: torch.Tensor, sparsity: float) -> torch.Tensor:
    """Prune the ``round(cols * sparsity)`` lowest scores of every row. score: (rows, cols)."""
    k = n_pruned(score.shape[1], sparsity)
    mask = torch.zeros_like(score, dtype=torch.bool)
    if k:
        # topk is ~4x faster than a full sort of each row on CPU; the count is exact either way.
        idx = torch.topk(score, k, dim=1, largest=False, sorted=False).indices  # (rows, k)
        mask.scatter_(1, idx, True)
    return mask


def global_mask(score: torch.Tensor, sparsity: float) -> torch.Tensor:
    """Prune the ``round(numel * sparsity)`` lowest scores of the whole tensor."""
    k = n_pruned(score.numel(), sparsity)
    mask = torch.zeros(score.numel(), dtype=torch.bool, device=score.device)
    if k:
        # topk(largest=False) avoids a full sort of the flattened matrix.
        idx = torch.topk(score.flatten(), k, largest=False, sorted=False).indices
        mask[idx] = True
    return mask.view_as(score)


def nm_mask(score: torch.Tensor, n: int, m: int) -> torch.Tensor:
    """N:M along the input dimension: each run of ``m`` consecutive columns of a row keeps its ``n``
    highest scores and loses the other ``m - n``. One topk over a (rows, cols/m, m) view, no
    per-group Python loop."""
    rows, cols = score.shape
    if not 0 < n < m:
        raise ValueError(f"N:M pattern {n}:{m} needs 0 < N < M")
    if cols % m:
        raise ValueError(f"N:M pattern {n}:{m} needs the input dimension ({cols}) to be a multiple of {m}")
    groups = score.reshape(rows, cols // m, m)  # (rows, G, m)
    idx = torch.topk(groups, m - n, dim=-1, largest=False, sorted=False).indices  # (rows, G, m - n)
    mask = torch.zeros_like(groups, dtype=torch.bool)
    mask.scatter_(-1, idx, True)
    return mask.view(rows, cols)


def nm_group_nonzeros(weight: torch.Tensor, m: int) -> torch.Tensor:
    """Non-zeros in every run of ``m`` consecutive inputs of every row: (rows, cols / m) int."""
    rows, cols = weight.shape
    return (weight.reshape(rows, cols // m, m) != 0).sum(-1)


def is_valid_nm(weight: torch.Tensor, n: int, m: int) -> bool:
    """True if every run of ``m`` consecutive inputs of every row has at most ``n`` non-zeros."""
    return bool((nm_group_nonzeros(weight, m) <= n).all())
