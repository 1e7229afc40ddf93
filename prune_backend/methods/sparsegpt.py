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

Shared inputs: q/k/v (and gate/up) read the same tensor, so they have one Hessian. Their rows
are stacked into one (sum out, in) problem: one Cholesky, one column loop, wider kernels; masks
are still selected per linear (:func:`sparsegpt_prune_shared`). On CUDA the column loop of a
block is captured once as a CUDA graph and replayed (``sparsegpt_solver``).

Recipe block::

    prune: {method: sparsegpt, sparsity: 0.5, blocksize: 128, percdamp: 0.01}
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
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


def sparsegpt_prune_shared(
    weights: Sequence[torch.Tensor],
    hessian: torch.Tensor,
    sparsity: float,
    nm: tuple[int, int] | None = None,
    *,
    blocksize: int = 128,
    percdamp: float = 0.01,
    masks: Sequence[torch.Tensor | None] | None = None,
    solver: str = "auto",
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Prune linears that read the same input (q/k/v, gate/up) with ONE Hessian, ONE Cholesky
    and ONE column loop; returns [(W' fp32, mask)] in the order of ``weights`` (each (out_l, in)).

    The OBS update of a column is row-independent, so stacking the rows of every weight into one
    (sum out_l, in) matrix changes no arithmetic of a row; only mask *selection* compares rows,
    and it does so within each weight's own row slice (unstructured: exactly
    ``round(out_l * B * sparsity)`` per weight and block; N:M: per row anyway). So the result
    equals pruning each weight alone (tests/prune_backend/test_sparsegpt_shared.py).

    ``solver``: "eager" runs the per-column loop from Python (two kernels per column: fastest on
    CPU); "graph" captures one block's loop as a CUDA graph once and replays it for every full
    block (one launch per block instead of ~2 x blocksize); "auto" = graph on CUDA, eager else.
    """
    sizes = [w.shape[0] for w in weights]
    cols = weights[0].shape[1]
    device = weights[0].device
    U, dead = inverse_hessian_cholesky(hessian.to(device), percdamp)
    Wt = torch.cat([w.float() for w in weights], dim=0).t().contiguous()  # (in, R): column i of W is row i
    Wt[dead] = 0.0
    rows = Wt.shape[1]
    fixed = None
    if masks is not None and any(m is not None for m in masks):
        if not all(m is not None for m in masks):
            raise ValueError("masks: give a mask for every weight of the group or none")
        fixed = torch.cat(list(masks), dim=0).t().contiguous()  # (in, R)
    out_mask = torch.zeros(cols, rows, dtype=torch.bool, device=device)
    if nm is not None and blocksize % nm[1]:
        blocksize = max(nm[1], blocksize - blocksize % nm[1])  # an N:M group never straddles blocks
    bounds = [0, *itertools.accumulate(sizes)]
    slices = [slice(a, b) for a, b in itertools.pairwise(bounds)]  # each weight's rows in R
    use_graph = solver == "graph" or (solver == "auto" and device.type == "cuda")
    if use_graph and device.type != "cuda":
        raise ValueError("solver 'graph' needs a CUDA device")
    graph = _BlockGraph(blocksize, rows, nm, fixed is not None, device) if use_graph else None
    for i1 in range(0, cols, blocksize):
        i2 = min(i1 + blocksize, cols)
        B = i2 - i1
        W1 = Wt[i1:i2]  # (B, R) view: updated in place
        U1 = U[i1:i2, i1:i2]  # (B, B)
        d = torch.diag(U1)  # (B,)
        if fixed is not None:
            M1 = fixed[i1:i2].clone()
        elif nm is None:
            # OBS saliency w^2 / [H^-1]_jj, with [H^-1]_jj of the remaining problem = U_jj^2.
            score = W1.square() / d.square().unsqueeze(1)  # (B, R)
            M1 = torch.zeros(B, rows, dtype=torch.bool, device=device)
            for sl in slices:  # each weight competes only with itself, as when pruned alone
                s = score[:, sl].flatten()  # (B * out_l,), the same order as a lone (B, out_l)
                k = n_pruned(s.numel(), sparsity)
                if k:
                    sel = torch.zeros(s.numel(), dtype=torch.bool, device=device)
                    sel[torch.topk(s, k, largest=False, sorted=False).indices] = True
                    M1[:, sl] = sel.view(B, -1)
        else:
            M1 = torch.zeros(B, rows, dtype=torch.bool, device=device)
        # scale[i] = m_i / U_ii so that err_i = w_i * scale[i] is one kernel per column.
        scale = M1.float() / d.unsqueeze(1)  # (B, R)
        Err1 = torch.empty_like(W1)  # (B, R)
        if graph is not None and B == blocksize:
            graph.run(W1, U1, d, M1, scale, Err1)
        else:
            solve_block(W1, U1, d, M1, scale, Err1, nm, fixed is not None)
        W1.masked_fill_(M1, 0.0)  # exact zeros (the update leaves ~1e-8 residue)
        out_mask[i1:i2] = M1
        # Lazy batch update of all later columns: (in - i2, B) @ (B, R).
        Wt[i2:].addmm_(U[i1:i2, i2:].t(), Err1, alpha=-1.0)
    W = Wt.t()  # (R, in)
    mask = out_mask.t()
    return [(W[sl].contiguous(), mask[sl].contiguous()) for sl in slices]


def solve_block(W1: torch.Tensor, U1: torch.Tensor, d: torch.Tensor, M1: torch.Tensor, scale: torch.Tensor,
                Err1: torch.Tensor, nm: tuple[int, int] | None, fixed: bool) -> None:
    """The column loop of one block, in place: W1 (B, R) reconstructed, Err1 (B, R) its errors.

    Only tensor ops with static shapes and no host sync, so a CUDA graph can capture it whole.
    For N:M (and no ``fixed`` mask) the mask M1 and ``scale`` are filled group by group here.
    """
    n, m = nm if nm is not None else (0, 0)
    for i in range(W1.shape[0]):
        if m and not fixed and i % m == 0:
            # N:M: choose the group's mask from the *updated* weights, as in the paper.
            g = slice(i, i + m)
            s = W1[g].square() / d[g].square().unsqueeze(1)  # (m, R)
            idx = torch.topk(s, m - n, dim=0, largest=False, sorted=False).indices  # N:M keeps n: prune m - n, (m - n, R)
            M1[g] = torch.zeros_like(M1[g]).scatter_(0, idx, True)
            scale[g] = M1[g].float() / d[g].unsqueeze(1)
        torch.mul(W1[i], scale[i], out=Err1[i])
        # OBS update of the block's remaining columns (and of column i itself, to w_i (1 - m_i)).
        # A rank-1 addmm_ runs through BLAS; addr_ takes a ~100x slower path on CPU.
        W1[i:].addmm_(U1[i:i + 1, i:].t(), Err1[i:i + 1], alpha=-1.0)


class _BlockGraph:
    """:func:`solve_block` for full (blocksize, R) blocks, captured once as a CUDA graph.

    The per-column loop is launch-bound on a GPU (~2 x 36k tiny kernels per 7B layer); a replay
    issues the whole block at once. Inputs are copied into static buffers, outputs copied back:
    four (B, R) copies per block, noise next to the loop they replace.
    """

    def __init__(self, blocksize: int, rows: int, nm: tuple[int, int] | None, fixed: bool, device: torch.device):
        self.nm, self.fixed = nm, fixed
        z = lambda *s, dt=torch.float32: torch.zeros(*s, dtype=dt, device=device)  # noqa: E731
        self.W1, self.Err1, self.scale = z(blocksize, rows), z(blocksize, rows), z(blocksize, rows)
        self.U1, self.d = torch.eye(blocksize, device=device), torch.ones(blocksize, device=device)
        self.M1 = z(blocksize, rows, dt=torch.bool)
        self.graph: torch.cuda.CUDAGraph | None = None

    def _body(self) -> None:
        solve_block(self.W1, self.U1, self.d, self.M1, self.scale, self.Err1, self.nm, self.fixed)

    def _capture(self) -> None:
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # warm-up off the capture (cuBLAS handles, workspaces)
            self._body()
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self._body()

    def run(self, W1, U1, d, M1, scale, Err1) -> None:
        if self.graph is None:
            self._capture()
        for dst, src in ((self.W1, W1), (self.U1, U1), (self.d, d), (self.M1, M1), (self.scale, scale)):
            dst.copy_(src)
        self.graph.replay()
        W1.copy_(self.W1)
        M1.copy_(self.M1)
        Err1.copy_(self.Err1)


def sparsegpt_prune(
    weight: torch.Tensor,
    hessian: torch.Tensor,
    sparsity: float,
    nm: tuple[int, int] | None = None,
    *,
    blocksize: int = 128,
    percdamp: float = 0.01,
    mask: torch.Tensor | None = None,
    solver: str = "auto",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Prune ``weight`` (out, in) given ``hessian`` = X^T X (in, in); returns (W' fp32, mask).

    ``mask`` (out, in), if given, fixes which weights are pruned (only the reconstruction runs);
    tests use it to compare against the closed-form OBS update.
    """
    return sparsegpt_prune_shared([weight], hessian, sparsity, nm, blocksize=blocksize, percdamp=percdamp,
                                  masks=None if mask is None else [mask], solver=solver)[0]


class SparseGPT(PruningMethod):
    name = "sparsegpt"
    needs: ClassVar[frozenset[str]] = frozenset({"hessian"})


    def prune(self, weight: torch.Tensor, stats: LinearStats, sparsity: float,
              nm: tuple[int, int] | None) -> tuple[torch.Tensor, torch.Tensor]:
        assert stats.hessian is not None
        return sparsegpt_prune(weight, stats.hessian, sparsity, nm, blocksize=self.cfg.blocksize,
                               percdamp=self.cfg.percdamp, solver=self.cfg.sparsegpt_solver)

    def prune_shared(self, weights: Sequence[torch.Tensor], stats: LinearStats, sparsity: float,
                     nm: tuple[int, int] | None) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Linears fed the same input share ``stats`` (one X^T X): one Cholesky, one loop."""
        assert stats.hessian is not None
        return sparsegpt_prune_shared(weights, stats.hessian, sparsity, nm, blocksize=self.cfg.blocksize,
                                      percdamp=self.cfg.percdamp,
                                      solver=self.cfg.sparsegpt_solver)
