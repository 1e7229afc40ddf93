"""The quantization grid: per-group scale and zero point, fake quantization, round-to-nearest.

    import torch
    from prune_backend.quant.grid import rtn_quantize
    w = torch.randn(8, 256)                                   # weight (out, in)
    wq = rtn_quantize(w, bits=4, group_size=128, sym=True)    # same shape, fp32
    wq[:, :128].unique().numel() <= 8 * 16                    # each row's group: <= 2^4 values

The grid is GPTQ's (Frantar et al. 2023, the ``Quantizer`` of the reference code, as AutoGPTQ
and GPTQModel keep it): one scale and one zero point per output row and group of input
columns, the range always containing 0, ``maxq = 2^bits - 1`` levels above the lowest:

* asymmetric: ``scale = (max - min) / maxq``, ``zero = round(-min / scale)``;
* symmetric: ``max = max(|min|, max)``, ``min = -max``, ``zero = (maxq + 1) / 2`` (fixed);
* an all-zero row gets the range [-1, 1] (any scale would do; this one avoids 0 / 0);
* ``q = clamp(round(w / scale) + zero, 0, maxq)``, ``w' = scale * (q - zero)``.

Weights are *fake*-quantized: ``w'`` is stored back in the model's dtype, so evaluation and
saving see an ordinary model whose every (row, group) holds at most 2^bits distinct values.
"""

from __future__ import annotations

import torch


def grid_params(w: torch.Tensor, bits: int, sym: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(scale, zero), each (rows, 1), of the grid covering each row of ``w`` (rows, cols)."""
    maxq = 2**bits - 1
    w = w.float()
    zeros = torch.zeros(w.shape[0], device=w.device)
    xmin = torch.minimum(w.min(dim=1).values, zeros)  # (rows,) the range always holds 0
    xmax = torch.maximum(w.max(dim=1).values, zeros)
    if sym:
        xmax = torch.maximum(xmin.abs(), xmax)
        xmin = torch.where(xmin < 0, -xmax, xmin)
    empty = (xmin == 0) & (xmax == 0)
    xmin[empty], xmax[empty] = -1.0, 1.0
    scale = (xmax - xmin) / maxq
    if sym:
        zero = torch.full_like(scale, (maxq + 1) / 2)
    else:
        zero = torch.round(-xmin / scale)
    return scale.unsqueeze(1), zero.unsqueeze(1)


def fake_quantize(w: torch.Tensor, scale: torch.Tensor, zero: torch.Tensor, bits: int) -> torch.Tensor:
    """Quantize then dequantize ``w`` (rows, k) on the grid (scale, zero), each (rows, 1)."""
    q = torch.clamp(torch.round(w / scale) + zero, 0, 2**bits - 1)
    return scale * (q - zero)


def group_index(cols: int, group_size: int, perm: torch.Tensor | None = None) -> torch.Tensor:
    """Group of every input column, (cols,) long: GPTQ's ``g_idx``.

    Groups are runs of ``group_size`` columns in processing order; with act-order the order is
    ``perm`` (processing position p handles column perm[p]), so column perm[p] is in group
    p // group_size. ``group_size == -1`` is one group per row (per-channel).
    """
    size = cols if group_size == -1 else group_size
    g = torch.arange(cols) // size
    if perm is None:
        return g
    out = torch.empty_like(g)
    out[perm.cpu()] = g
    return out


def rtn_quantize(weight: torch.Tensor, bits: int, group_size: int = -1, sym: bool = True) -> torch.Tensor:
    """Round-to-nearest: every (row, group of ``group_size`` columns) on its own grid; fp32 (out, in)."""
    w = weight.float()
    cols = w.shape[1]
    size = cols if group_size == -1 else group_size
    out = torch.empty_like(w)
    for c in range(0, cols, size):
        scale, zero = grid_params(w[:, c:c + size], bits, sym)
        out[:, c:c + size] = fake_quantize(w[:, c:c + size], scale, zero, bits)
    return out


def max_levels(wq: torch.Tensor, g_idx: torch.Tensor) -> int:
    """Most distinct values in one (row, group) of ``wq`` (out, in); groups given per column by ``g_idx``."""
    most = 0
    g_idx = g_idx.to(wq.device)
    for g in torch.unique(g_idx):
        s = wq[:, g_idx == g].sort(dim=1).values  # (out, members)
        most = max(most, int((1 + (s.diff(dim=1) != 0).sum(dim=1)).max()))
    return most
