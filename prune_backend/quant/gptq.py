"""GPTQ: column-by-column quantization with OBS error feedback, lazy block updates, act-order.

    import torch
    from prune_backend.quant.gptq import gptq_quantize
    w, x = torch.randn(8, 256), torch.randn(512, 256)        # weight (out, in), inputs (T, in)
    wq, g_idx = gptq_quantize(w, x.t() @ x, bits=4, group_size=128, act_order=True)
    ((w - wq) @ x.t()).norm()                                 # below round-to-nearest's error

Frantar, Ashkboos, Hoefler & Alistarh 2023, "GPTQ: Accurate Post-Training Quantization for
Generative Pre-trained Transformers" (ICLR 2023, arXiv 2210.17323), Algorithm 1. It shares
SparseGPT's machinery (same authors, same reference code): H = X^T X dampened by ``percdamp *
mean(diag H)``, dead inputs zeroed, U = upper Cholesky factor of H^-1
(:func:`prune_backend.methods.sparsegpt.inverse_hessian_cholesky`), blocks of ``blocksize``
columns with the rest of the matrix updated once per block. Column i is rounded to its grid
(:mod:`prune_backend.quant.grid`), its error err = (w_i - q_i) / U_ii is pushed onto the
columns not yet quantized, in the block at once and beyond it lazily.

Options as AutoGPTQ / GPTQModel name them:

* ``group_size``: -1 = one grid per output row (per channel), else one per row and run of
  ``group_size`` columns *in processing order*. A group's grid is fitted when its first column
  comes up, to the weights as updated so far. Blocks are aligned to groups (``blocksize`` is
  rounded to a multiple of ``group_size``) so that every column of a group has received all
  earlier errors at that moment, exactly as in the unblocked algorithm; the reference code,
  which fits from the block-start values, differs from it when ``group_size < blocksize``.
* ``act_order`` (``desc_act``): columns in order of decreasing H_jj. Groups then follow that
  order, so a group's columns are scattered; ``g_idx`` (returned) gives each column's group.
* ``static_groups``: grids fitted once, before any update, to runs of ``group_size`` columns in
  the *original* order; with act-order each column uses the grid of its original group, so
  groups stay contiguous (what exporters need for fast kernels).

Layout: the working copy is transposed, (in, out), so a column is a contiguous row and each
step is a handful of kernels (round, error, one rank-1 ``addmm_``), as in SparseGPT's module.
"""

from __future__ import annotations

import torch

from prune_backend.methods.sparsegpt import inverse_hessian_cholesky
from prune_backend.quant.grid import fake_quantize, grid_params, group_index


def gptq_quantize(
    weight: torch.Tensor,
    hessian: torch.Tensor,
    bits: int,
    group_size: int = -1,
    sym: bool = True,
    *,
    act_order: bool = False,
    static_groups: bool = False,
    percdamp: float = 0.01,
    blocksize: int = 128,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Quantize ``weight`` (out, in) given ``hessian`` = X^T X (in, in).

    Returns (W' fp32 (out, in) on the grid, g_idx long (in,): the group of each input column).
    """
    rows, cols = weight.shape
    W = weight.float().clone()
    H = hessian.float().to(W.device).clone()
    dead = torch.diag(H) == 0
    H[dead, dead] = 1.0
    W[:, dead] = 0.0
    size = cols if group_size == -1 else group_size
    scale = zero = None
    static: list[tuple[torch.Tensor, torch.Tensor]] = []
    if group_size == -1:
        scale, zero = grid_params(W, bits, sym)  # (rows, 1) each, fixed for the whole matrix
    elif static_groups:
        static = [grid_params(W[:, c:c + size], bits, sym) for c in range(0, cols, size)]
    else:
        blocksize = max(size, blocksize - blocksize % size)  # a group never straddles a block
    perm = None
    if act_order:
        perm = torch.argsort(torch.diag(H), descending=True, stable=True)
        W, H = W[:, perm], H[perm][:, perm]
    U, _ = inverse_hessian_cholesky(H, percdamp)  # (in, in), H^-1 = U^T U
    Wt = W.t().contiguous()  # (in, out): processing position p is row p
    for i1 in range(0, cols, blocksize):
        i2 = min(i1 + blocksize, cols)
        W1 = Wt[i1:i2]  # (B, out) view: updated in place, row i ends as the quantized column
        U1 = U[i1:i2, i1:i2]  # (B, B)
        Err1 = torch.empty_like(W1)  # (B, out)
        for i in range(i2 - i1):
            p = i1 + i
            if static:
                scale, zero = static[int(perm[p] if perm is not None else p) // size]
            elif group_size != -1 and p % size == 0:
                scale, zero = grid_params(Wt[p:p + size].t(), bits, sym)  # (out, size) -> (out, 1) x 2
            q = fake_quantize(W1[i:i + 1].t(), scale, zero, bits).t()  # (1, out)
            torch.sub(W1[i:i + 1], q, out=Err1[i:i + 1]).div_(U1[i, i])
            # OBS update of the block's remaining columns; column i itself becomes exactly q.
            W1[i:].addmm_(U1[i:i + 1, i:].t(), Err1[i:i + 1], alpha=-1.0)
            W1[i] = q[0]  # drop the ~1e-8 residue of the update: q lies on the grid exactly
        # Lazy batch update of all later columns: (in - i2, B) @ (B, out).
        Wt[i2:].addmm_(U[i1:i2, i2:].t(), Err1, alpha=-1.0)
    Q = Wt.t()
    if perm is not None:
        Q = Q[:, torch.argsort(perm)]
    g_idx = group_index(cols, group_size, perm if (perm is not None and not static) else None)
    return Q.contiguous(), g_idx
