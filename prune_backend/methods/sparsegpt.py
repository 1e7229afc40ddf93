"""SparseGPT: OBS-style mask selection and weight reconstruction with blocked lazy updates.

    import torch
    from prune_backend.methods.sparsegpt import sparsegpt_prune
    w, x = torch.randn(8, 16), torch.randn(200, 16)          # weight (out, in), inputs (T, in)
    w2, mask = sparsegpt_prune(w, x.t() @ x, 0.5, blocksize=8)
    (w2[mask] == 0).all(), mask.sum()                        # True, 64

Frantar & Alistarh 2023, "SparseGPT: Massive Language Models Can Be Accurately Pruned in
One-Shot" (ICML 2023, arXiv 2301.00774), Algorithm 1:

* H = 2 X^T X (the factor 2 and any scale cancel: dampening is relative), dampened by
  ``percdamp * mean(diag H)``; dead inputs (H_jj = 0) are zeroed and given H_jj = 1.
* U = upper Cholesky factor of H^-1 (H^-1 = U^T U). Row i of U is, up to the factor U_ii, the
  first row of the inverse Hessian of the columns i.. still to be processed, so one
  factorisation serves every step.
* Columns are processed left to right in blocks of ``blocksize`` (the "lazy batch updates" of
  Sec. 3.3): the mask of a block is chosen once at its start from w^2 / U_jj^2 (unstructured,
  exactly ``round(rows * B * sparsity)`` entries per block) or every M columns (N:M). Inside the
  block each column's error err = w_i * m_i / U_ii updates only the block's remaining columns;
  the rest of the matrix receives all of the block's errors at once in one GEMM.

Layout: the working copy is kept transposed, (in, out), so that "column i" is a contiguous row
and each step is two kernels (an error ``mul`` and a rank-1 ``addmm_``) instead of the
reference's six strided ones. After the block, column i has been updated by its own error too
(w_i - w_i m_i), so the working copy already holds the reconstructed block; no separate Q buffer.

Recipe block::

    prune: {method: sparsegpt, sparsity: 0.5, blocksize: 128, percdamp: 0.01}
"""

from __future__ import annotations

from typing import ClassVar

import torch

from prune_backend.methods.base import LinearStats, PruningMethod
from prune_backend.methods.masks import n_pruned


def inverse_hessian_cholesky(hessian: torch.Tensor, percdamp: float = 0.01) -> tuple[torch.Tensor, torch.Tensor]:
    """(U, dead): U upper-triangular with (H + damp I)^-1 = U^T U, fp32; dead = inputs never active."""
    H = hessian.float().clone()
    dead = torch.diag(H) == 0
    H[dead, dead] = 1.0
    damp = percdamp * torch.mean(torch.diag(H))
    H.diagonal().add_(damp)
    L = torch.linalg.cholesky(H)
    # H^-1 = cholesky_solve(I, L). (torch.cholesky_inverse computes the same but took 23 s for
    # a 1536 x 1536 matrix on CPU, against 0.3 s here.)
    Hinv = torch.cholesky_solve(torch.eye(H.shape[0], device=H.device, dtype=H.dtype), L)
    return torch.linalg.cholesky(Hinv, upper=True), dead


def sparsegpt_prune(
    weight: torch.Tensor,
    hessian: torch.Tensor,
    sparsity: float,
    nm: tuple[int, int] | None = None,
    *,
    blocksize: int = 128,
    percdamp: float = 0.01,
    mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Prune ``weight`` (out, in) given ``hessian`` = X^T X (in, in); returns (W' fp32, mask).

    ``mask`` (out, in), if given, fixes which weights are pruned (only the reconstruction runs);
    tests use it to compare against the closed-form OBS update.
    """
    rows, cols = weight.shape
    U, dead = inverse_hessian_cholesky(hessian.to(weight.device), percdamp)
    Wt = weight.float().t().contiguous()  # (in, out): column i of W is row i here
    Wt[dead] = 0.0
    fixed = None if mask is None else mask.t().contiguous()
    out_mask = torch.zeros(cols, rows, dtype=torch.bool, device=weight.device)
    if nm is not None and blocksize % nm[1]:
        blocksize = max(nm[1], blocksize - blocksize % nm[1])  # an N:M group never straddles blocks
    for i1 in range(0, cols, blocksize):
        i2 = min(i1 + blocksize, cols)
        B = i2 - i1
        W1 = Wt[i1:i2]  # (B, out) view: updated in place
        U1 = U[i1:i2, i1:i2]  # (B, B)
        d = torch.diag(U1)  # (B,)
        if fixed is not None:
            M1 = fixed[i1:i2]
        elif nm is None:
            # OBS saliency w^2 / [H^-1]_jj, with [H^-1]_jj of the remaining problem = U_jj^2.
            score = W1.square() / d.square().unsqueeze(1)  # (B, out)
            M1 = torch.zeros(B * rows, dtype=torch.bool, device=Wt.device)
            k = n_pruned(B * rows, sparsity)
            if k:
                M1[torch.topk(score.flatten(), k, largest=False, sorted=False).indices] = True
            M1 = M1.view(B, rows)
        else:
            M1 = torch.zeros(B, rows, dtype=torch.bool, device=Wt.device)
        # scale[i] = m_i / U_ii so that err_i = w_i * scale[i] is one kernel per column.
        scale = M1.float() / d.unsqueeze(1)  # (B, out)
        Err1 = torch.empty_like(W1)  # (B, out)
        n, m = nm if nm is not None else (0, 0)
        for i in range(B):
            if m and fixed is None and i % m == 0:
                # N:M: choose the group's mask from the *updated* weights, as in the paper.
                g = slice(i, i + m)
                s = W1[g].square() / d[g].square().unsqueeze(1)  # (m, out)
                idx = torch.topk(s, m - n, dim=0, largest=False, sorted=False).indices  # N:M keeps n: prune m - n
                M1[g] = torch.zeros_like(M1[g]).scatter_(0, idx, True)
                scale[g] = M1[g].float() / d[g].unsqueeze(1)
            torch.mul(W1[i], scale[i], out=Err1[i])
            # OBS update of the block's remaining columns (and of column i itself, to w_i (1 - m_i)).
            # A rank-1 addmm_ runs through BLAS; addr_ takes a ~100x slower path on CPU.
            W1[i:].addmm_(U1[i:i + 1, i:].t(), Err1[i:i + 1], alpha=-1.0)
        W1.masked_fill_(M1, 0.0)  # exact zeros (the update leaves ~1e-8 residue)
        out_mask[i1:i2] = M1
        # Lazy batch update of all later columns: (in - i2, B) @ (B, out).
        Wt[i2:].addmm_(U[i1:i2, i2:].t(), Err1, alpha=-1.0)
    return Wt.t().contiguous(), out_mask.t().contiguous()


class SparseGPT(PruningMethod):
    name = "sparsegpt"
    needs: ClassVar[frozenset[str]] = frozenset({"hessian"})


    def prune(self, weight: torch.Tensor, stats: LinearStats, sparsity: float,
              nm: tuple[int, int] | None) -> tuple[torch.Tensor, torch.Tensor]:
        assert stats.hessian is not None
        return sparsegpt_prune(weight, stats.hessian, sparsity, nm,
                               blocksize=self.cfg.blocksize, percdamp=self.cfg.percdamp)
