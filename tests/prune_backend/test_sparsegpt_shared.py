"""SparseGPT with a shared Hessian (q/k/v, gate/up in one loop) equals the per-linear original.

The reference below is a verbatim copy of ``sparsegpt_prune`` as it was before the loops were
shared (prune_backend/methods/sparsegpt.py at e5aae8e): same masks, weights to 1e-4 relative.
"""

from __future__ import annotations

import pytest
import torch

from prune_backend.methods.base import LinearStats
from prune_backend.methods.masks import n_pruned
from prune_backend.methods.sparsegpt import sparsegpt_prune, sparsegpt_prune_shared


# ---------------------------------------------------------------- reference (old implementation)
def _ref_inverse_hessian_cholesky(hessian: torch.Tensor, percdamp: float = 0.01) -> tuple[torch.Tensor, torch.Tensor]:
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


def ref_sparsegpt_prune(
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
    U, dead = _ref_inverse_hessian_cholesky(hessian.to(weight.device), percdamp)
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
                idx = torch.topk(s, n, dim=0, largest=False, sorted=False).indices  # (n, out)
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




# ---------------------------------------------------------------- tests
def _group(sizes=(24, 8, 8), cols=64, tokens=512, seed=0):
    """Weights of linears sharing one input and that input's X^T X (correlated, uneven scales)."""
    g = torch.Generator().manual_seed(seed)
    ws = [torch.randn(r, cols, generator=g) for r in sizes]
    x = torch.randn(tokens, cols, generator=g) @ torch.randn(cols, cols, generator=g)
    x = x * torch.linspace(0.2, 3.0, cols) + 0.3
    x[:, 5] = 0.0  # one dead input
    return ws, x.t() @ x


def _assert_same(got, want):
    (w1, m1), (w0, m0) = got, want
    assert torch.equal(m1, m0)
    assert float((w1 - w0).norm() / w0.norm()) < 1e-4
    assert float((w1 - w0).abs().max() / w0.abs().max()) < 1e-4


@pytest.mark.parametrize("nm", [None, (2, 4), (4, 8)])
@pytest.mark.parametrize("blocksize", [16, 24, 128])
def test_shared_loop_equals_old_per_linear(nm, blocksize):
    ws, H = _group()
    sparsity = 0.5 if nm is None else nm[0] / nm[1]
    got = sparsegpt_prune_shared(ws, H, sparsity, nm, blocksize=blocksize, solver="eager")
    assert len(got) == len(ws)
    for w, res in zip(ws, got, strict=True):
        _assert_same(res, ref_sparsegpt_prune(w, H, sparsity, nm, blocksize=blocksize))


@pytest.mark.parametrize("sparsity", [0.3, 0.7])
def test_shared_unstructured_counts_are_per_linear_and_block(sparsity):
    # rows of different sizes in one loop: each linear still gets exactly its own count per block
    ws, H = _group(sizes=(5, 11, 16), cols=48)
    got = sparsegpt_prune_shared(ws, H, sparsity, blocksize=16, solver="eager")
    for w, (w1, m1) in zip(ws, got, strict=True):
        for b in range(0, 48, 16):
            assert int(m1[:, b:b + 16].sum()) == n_pruned(w.shape[0] * 16, sparsity)
        assert torch.equal(w1 == 0, m1 | (w1 == 0)) and not w1[m1].any()
        _assert_same((w1, m1), ref_sparsegpt_prune(w, H, sparsity, blocksize=16))


def test_single_weight_wrapper_and_fixed_mask_equal_old():
    ws, H = _group(sizes=(16,))
    mask = torch.rand(16, 64, generator=torch.Generator().manual_seed(1)) < 0.4
    _assert_same(sparsegpt_prune(ws[0], H, 0.5, mask=mask, blocksize=32),
                 ref_sparsegpt_prune(ws[0], H, 0.5, mask=mask, blocksize=32))


def test_method_prune_shared_reads_config():
    from prune_backend import PruneConfig
    from prune_backend.methods.sparsegpt import SparseGPT

    ws, _ = _group()
    x = torch.randn(300, 64, generator=torch.Generator().manual_seed(2))
    st = LinearStats.from_inputs(x, hessian=True)
    m = SparseGPT(PruneConfig(method="sparsegpt", sparsity=0.5, blocksize=32))
    for w, res in zip(ws, m.prune_shared(ws, st, 0.5, None), strict=True):
        _assert_same(res, ref_sparsegpt_prune(w, st.hessian, 0.5, blocksize=32))


@pytest.mark.parametrize("pattern", ["unstructured", "2:4"])
def test_driver_shares_groups_and_equals_per_linear(monkeypatch, pattern):
    from tiny_models import tiny_llama

    from prune_backend import PruneConfig, prune_model
    from prune_backend.methods.sparsegpt import SparseGPT

    ids = torch.randint(3, 256, (6, 24), generator=torch.Generator().manual_seed(0))
    cfg = PruneConfig(method="sparsegpt", sparsity=0.5, pattern=pattern, batch_size=4, blocksize=16)
    calls = []
    shared = SparseGPT.prune_shared
    monkeypatch.setattr(SparseGPT, "prune_shared", lambda self, ws, *a: calls.append(len(ws)) or shared(self, ws, *a))
    a = tiny_llama(layers=2, hidden=32, intermediate=64)
    b = tiny_llama(layers=2, hidden=32, intermediate=64)
    b.load_state_dict(a.state_dict())
    prune_model(a, ids, cfg, progress=False)
    assert calls == [3, 2, 3, 2]  # q/k/v and gate/up of each layer in one loop
    monkeypatch.delattr(SparseGPT, "prune_shared")  # the driver falls back to one linear at a time
    prune_model(b, ids, cfg, progress=False)
    for (name, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        assert torch.equal(pa == 0, pb == 0), name
        torch.testing.assert_close(pa, pb, rtol=1e-4, atol=1e-6)


def test_graph_solver_needs_cuda():
    ws, H = _group(sizes=(4,), cols=16)
    if torch.cuda.is_available():
        pytest.skip("CPU-only check")
    with pytest.raises(ValueError, match="CUDA"):
        sparsegpt_prune_shared(ws, H, 0.5, solver="graph")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("nm", [None, (2, 4)])
def test_graph_solver_equals_eager_on_cuda(nm):
    ws, H = _group(sizes=(96, 32, 32), cols=512, tokens=2048)
    ws, H = [w.cuda() for w in ws], H.cuda()
    sparsity = 0.5
    eager = sparsegpt_prune_shared(ws, H, sparsity, nm, blocksize=128, solver="eager")
    graph = sparsegpt_prune_shared(ws, H, sparsity, nm, blocksize=128, solver="graph")
    for a, b in zip(graph, eager, strict=True):
        _assert_same(a, b)
