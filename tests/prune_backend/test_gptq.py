"""GPTQ and round-to-nearest: the pure functions against a brute-force reference, the grid, the driver.

The reference is the textbook OBQ column loop (Frantar et al. 2022/2023): full inverse Hessian
in float64, one column at a time, the inverse updated by the OBS formula after each column; no
Cholesky, no blocks. The package's GPTQ (Cholesky of H^-1, lazy block updates, transposed
layout, fp32) must give the same weights.

One subtlety: the symmetric grid puts a group's most negative weight exactly on a rounding tie
(-xmax / scale = -(maxq + 1) / 2, e.g. -7.5 at 4 bits), so fp32 vs float64 noise decides
between two grid points there, and the error feedback then differs for the rest of the row.
At such genuine ties (and only there) the reference takes the grid point the implementation
took; everywhere else it decides on its own.
"""

from __future__ import annotations

import pytest
import torch

from prune_backend.errors import PruneError
from prune_backend.quant import QuantConfig, quantize_model
from prune_backend.quant.gptq import gptq_quantize
from prune_backend.quant.grid import group_index, max_levels, rtn_quantize


def _ref_grid(w: torch.Tensor, bits: int, sym: bool):
    """Grid of each row of w (rows, k), float64, written out per row."""
    maxq = 2**bits - 1
    scales, zeros = [], []
    for row in w.tolist():
        lo, hi = min(min(row), 0.0), max(max(row), 0.0)
        if sym:
            hi = max(-lo, hi)
            lo = -hi if lo < 0 else lo
        if lo == 0 and hi == 0:
            lo, hi = -1.0, 1.0
        s = (hi - lo) / maxq
        scales.append(s)
        zeros.append((maxq + 1) / 2 if sym else round(-lo / s))
    return torch.tensor(scales, dtype=torch.float64), torch.tensor(zeros, dtype=torch.float64)


def _ref_quant(x: torch.Tensor, grid, bits: int, follow: torch.Tensor | None = None) -> torch.Tensor:
    s, z = grid
    v = x / s
    q = s * (torch.clamp(torch.round(v) + z, 0, 2**bits - 1) - z)
    if follow is not None:  # at a tie (see the module docstring) take the implementation's grid point
        lo, hi = (s * (torch.clamp(f(v) + z, 0, 2**bits - 1) - z) for f in (torch.floor, torch.ceil))
        tie = ((v - torch.floor(v)) - 0.5).abs() < 1e-5
        pick = torch.where((follow - lo).abs() < (follow - hi).abs(), lo, hi)
        q = torch.where(tie, pick, q)
    return q


def _ref_gptq(W, H, bits, group_size, sym, act_order=False, static_groups=False, percdamp=0.01, follow=None):
    """Textbook OBQ loop in float64 with the full inverse Hessian (see the module docstring)."""
    W, H = W.double().clone(), H.double().clone()
    cols = W.shape[1]
    dead = torch.diag(H) == 0
    H[dead, dead] = 1.0
    W[:, dead] = 0.0
    size = cols if group_size == -1 else group_size
    static = [_ref_grid(W[:, c:c + size], bits, sym) for c in range(0, cols, size)] if static_groups else None
    perm = torch.argsort(torch.diag(H), descending=True, stable=True) if act_order else torch.arange(cols)
    W, H = W[:, perm], H[perm][:, perm]
    follow = None if follow is None else follow.double()[:, perm]
    H += percdamp * torch.mean(torch.diag(H)) * torch.eye(cols, dtype=torch.float64)
    Hinv = torch.linalg.inv(H)
    Q = torch.zeros_like(W)
    grid = _ref_grid(W, bits, sym) if group_size == -1 else None
    for p in range(cols):
        if static is not None:
            grid = static[int(perm[p]) // size]
        elif group_size != -1 and p % size == 0:
            grid = _ref_grid(W[:, p:p + size], bits, sym)
        Q[:, p] = _ref_quant(W[:, p], grid, bits, None if follow is None else follow[:, p])
        err = (W[:, p] - Q[:, p]) / Hinv[p, p]
        W[:, p:] -= torch.outer(err, Hinv[p, p:])
        Hinv -= torch.outer(Hinv[:, p], Hinv[p, :]) / Hinv[p, p]  # OBS: drop column p from the problem
    return Q[:, torch.argsort(perm)]


def _layer(rows=16, cols=64, tokens=256, seed=0, dead=(5,)):
    g = torch.Generator().manual_seed(seed)
    # Correlated inputs with uneven scales, as in an LLM: random mixing of columns.
    x = torch.randn(tokens, cols, generator=g) @ (torch.randn(cols, cols, generator=g) / cols**0.5 + torch.eye(cols))
    x *= torch.rand(cols, generator=g) * 2 + 0.1
    x[:, list(dead)] = 0.0
    w = torch.randn(rows, cols, generator=g)
    return w, x


@pytest.mark.parametrize("bits, group_size, sym, act_order, static_groups, blocksize", [
    (4, -1, True, False, False, 16),
    (3, 16, False, False, False, 24),   # blocks re-aligned to groups (24 -> 16)
    (4, 16, True, False, False, 32),    # two groups per block
    (2, 32, False, True, False, 16),    # act-order, groups in processing order, larger than a block
    (4, 16, True, True, True, 32),      # act-order with static groups
    (8, 16, False, True, False, 64),
])
def test_gptq_matches_textbook_obq(bits, group_size, sym, act_order, static_groups, blocksize):
    w, x = _layer()
    H = x.t() @ x
    q, g_idx = gptq_quantize(w, H, bits, group_size, sym, act_order=act_order, static_groups=static_groups,
                             blocksize=blocksize)
    ref = _ref_gptq(w, H, bits, group_size, sym, act_order, static_groups, follow=q)
    torch.testing.assert_close(q.double(), ref, rtol=0, atol=1e-4)
    assert (q[:, 5] == 0).all()  # dead input column
    expected = group_index(64, group_size, torch.argsort(torch.diag(H), descending=True, stable=True)
                           if act_order and not static_groups else None)
    assert torch.equal(g_idx, expected)


@pytest.mark.parametrize("bits", [2, 3, 4])
@pytest.mark.parametrize("act_order, static_groups", [(False, False), (True, False), (True, True)])
def test_weights_lie_on_the_grid(bits, act_order, static_groups):
    w, x = _layer(rows=32, cols=96, seed=1)
    q, g_idx = gptq_quantize(w, x.t() @ x, bits, 32, True, act_order=act_order, static_groups=static_groups)
    assert 0 < max_levels(q, g_idx) <= 2**bits
    if act_order and not static_groups:  # groups follow H_jj order: not contiguous runs of columns
        assert not torch.equal(g_idx, group_index(96, 32))
    r = rtn_quantize(w, bits, 32, sym=False)
    assert 0 < max_levels(r, group_index(96, 32)) <= 2**bits
    # bf16 storage keeps the property (rounding maps n values to at most n values).
    assert max_levels(q.bfloat16(), g_idx) <= 2**bits


def test_rtn_per_group_grid():
    w, _ = _layer(rows=8, cols=64, seed=2, dead=())
    for sym in (True, False):
        r = rtn_quantize(w, 3, 16, sym)
        for c in range(0, 64, 16):
            grid = tuple(t.unsqueeze(1) for t in _ref_grid(w[:, c:c + 16], 3, sym))
            ref = _ref_quant(w[:, c:c + 16].double(), grid, 3, follow=r[:, c:c + 16].double())
            torch.testing.assert_close(r[:, c:c + 16].double(), ref, rtol=0, atol=1e-6)
        assert (r - w).abs().max() <= (w.abs().max() * 2 / 7) / 2 + 1e-6  # at most half a step


@pytest.mark.parametrize("bits", [3, 4])
def test_gptq_output_error_below_rtn(bits):
    w, x = _layer(rows=64, cols=128, tokens=512, seed=3)
    q, _ = gptq_quantize(w, x.t() @ x, bits, 32, True)
    r = rtn_quantize(w, bits, 32, True)
    e_gptq, e_rtn = ((w - q) @ x.t()).norm(), ((w - r) @ x.t()).norm()
    assert e_gptq < 0.8 * e_rtn


@pytest.mark.parametrize("kw, match", [
    ({"bits": 9}, "bits"),
    ({"bits": 1}, "bits"),
    ({"group_size": 0}, "group_size 0"),
    ({"method": "rtn", "act_order": True}, "need method gptq"),
    ({"group_size": -1, "act_order": True, "static_groups": True}, "static_groups needs a group_size"),
    ({"method": "awq"}, "method"),
    ({"bitz": 4}, "unknown field 'bitz'"),
    ({"percdamp": 0}, "percdamp"),
])
def test_config_refuses_bad_input_in_one_line(kw, match):
    with pytest.raises(PruneError, match=match) as exc:
        QuantConfig(**kw)
    assert "\n" not in str(exc.value)


def test_rows_are_independent_so_shared_inputs_quantize_together():
    # The driver quantizes q/k/v (and gate/up) as one matrix of concatenated rows.
    w, x = _layer(rows=24, cols=64, seed=4)
    H = x.t() @ x
    kw = dict(act_order=True, blocksize=16)
    whole, _ = gptq_quantize(w, H, 3, 16, False, **kw)
    parts = torch.cat([gptq_quantize(p, H, 3, 16, False, **kw)[0] for p in w.split([8, 16])])
    torch.testing.assert_close(whole, parts, rtol=0, atol=1e-5)


def test_quantize_model_tiny(tiny_lm):
    import copy

    model, _ = tiny_lm
    ids = torch.randint(0, 259, (4, 24), generator=torch.Generator().manual_seed(0))
    for method in ("gptq", "rtn"):
        m = copy.deepcopy(model)
        rep = quantize_model(m, ids, QuantConfig(method=method, bits=3, group_size=16, act_order=method == "gptq"),
                             progress=False)
        assert len(rep.layers) == 2 * 7 and 0 < rep.max_levels <= 8
        assert {r["method"] for r in rep.layers} == {method}
        assert all(r["weight_rel_error"] > 0 for r in rep.layers)
        # GPTQ reports its error on the calibration tokens; RTN saw none.
        assert all((r["output_rel_error"] is not None) == (method == "gptq") for r in rep.layers)
        assert rep.nsamples == (4 if method == "gptq" else 0)
        w = m.model.layers[1].mlp.down_proj.weight
        if method == "rtn":
            assert max_levels(w, group_index(w.shape[1], 16)) <= 8
        assert not torch.equal(w, model.model.layers[1].mlp.down_proj.weight)


def test_gptq_needs_calibration_tokens(tiny_lm):
    with pytest.raises(PruneError, match="calibration"):
        quantize_model(tiny_lm[0], None, QuantConfig(method="gptq"), progress=False)


def test_compress_model_dispatches_on_the_config_type(tiny_lm):
    import copy

    from prune_backend import PruneConfig
    from prune_backend.compress import compress_model, describe

    ids = torch.randint(0, 259, (2, 16), generator=torch.Generator().manual_seed(1))
    m = copy.deepcopy(tiny_lm[0])
    rep = compress_model(m, ids, QuantConfig(method="rtn", bits=4, group_size=16), progress=False)
    assert rep.max_levels <= 16 and describe(QuantConfig(bits=3))["label"] == "gptq W3 g128 sym"
    rep = compress_model(m, ids, PruneConfig(method="magnitude", sparsity=0.5), progress=False)
    assert rep.total_sparsity == pytest.approx(0.5) and describe(PruneConfig())["kind"] == "prune"
    with pytest.raises(PruneError, match="PruneConfig or a QuantConfig"):
        compress_model(m, ids, {"method": "gptq"})
