"""Each method's math against brute-force references written here, on tiny layers."""

from __future__ import annotations

import pytest
import torch

from prune_backend.methods.dsnot import dsnot, expected_error
from prune_backend.methods.magnitude import magnitude_mask
from prune_backend.methods.masks import (
    global_mask,
    is_valid_nm,
    nm_group_nonzeros,
    nm_mask,
    row_mask,
)
from prune_backend.methods.owl import outlier_ratio, owl_sparsities
from prune_backend.methods.sparsegpt import sparsegpt_prune
from prune_backend.methods.wanda import wanda_mask


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _layer(rows=8, cols=16, tokens=256, seed=0):
    g = _gen(seed)
    w = torch.randn(rows, cols, generator=g, dtype=torch.float64)
    # correlated, non-centred inputs with uneven scales, like real activations
    x = torch.randn(tokens, cols, generator=g, dtype=torch.float64) @ torch.randn(cols, cols, generator=g, dtype=torch.float64)
    x = x * torch.linspace(0.2, 3.0, cols, dtype=torch.float64) + 0.3
    return w, x


# ---------------------------------------------------------------- masks
def test_row_mask_prunes_exactly_k_per_row_even_with_ties():
    score = torch.ones(5, 10)  # all tied: a "<= threshold" rule would prune everything
    assert (row_mask(score, 0.3).sum(1) == 3).all()


def test_global_mask_exact_count():
    score = torch.rand(7, 13, generator=_gen())
    m = global_mask(score, 0.37)
    assert int(m.sum()) == round(91 * 0.37)
    assert score[m].max() <= score[~m].min()


@pytest.mark.parametrize("n,m", [(2, 4), (4, 8), (1, 4), (2, 8), (1, 3), (3, 8)])
def test_nm_mask_keeps_the_n_highest_of_every_m(n, m):
    """N:M = N kept of every M (the literature's reading): 1:4 and 2:8 are 75 % sparse."""
    score = torch.rand(6, m * 5, generator=_gen(n + m))
    got = nm_mask(score, n, m)
    want = torch.zeros_like(got)
    for r in range(score.shape[0]):
        for g in range(0, score.shape[1], m):
            order = sorted(range(m), key=lambda j: float(score[r, g + j]))
            for j in order[:m - n]:  # the m - n lowest are pruned
                want[r, g + j] = True
    assert torch.equal(got, want)
    kept = torch.where(got, 0.0, 1.0)
    assert (nm_group_nonzeros(kept, m) == n).all()
    assert float(got.float().mean()) == pytest.approx(1 - n / m)
    assert is_valid_nm(kept, n, m) and not is_valid_nm(kept, n - 1, m)


# ---------------------------------------------------------------- magnitude, wanda
def test_magnitude_is_layer_wide():
    w, _ = _layer()
    m = magnitude_mask(w, 0.5)
    assert int(m.sum()) == 64
    assert w.abs()[m].max() <= w.abs()[~m].min()
    assert m.sum(1).unique().numel() > 1  # rows differ: the comparison group is the layer


def test_wanda_matches_bruteforce_per_row():
    w, x = _layer()
    mask = wanda_mask(w, x.pow(2).sum(0), 0.5)
    for r in range(w.shape[0]):
        scores = [abs(float(w[r, j])) * float(torch.sqrt(sum(x[t, j] ** 2 for t in range(x.shape[0])))) for j in range(w.shape[1])]
        pruned = sorted(range(w.shape[1]), key=lambda j: scores[j])[:8]
        assert set(torch.nonzero(mask[r]).flatten().tolist()) == set(pruned)


@pytest.mark.parametrize("n,m", [(2, 4), (1, 4), (2, 8), (4, 8)])
def test_wanda_and_magnitude_nm_keep_exactly_n(n, m):
    w, x = _layer(cols=32)
    for mask in (wanda_mask(w, x.pow(2).sum(0), 1 - n / m, (n, m)), magnitude_mask(w, 1 - n / m, (n, m))):
        assert (nm_group_nonzeros(w.masked_fill(mask, 0), m) == n).all()


# ---------------------------------------------------------------- SparseGPT
def _damped_inverse(H, percdamp=0.01):
    H = H.clone()
    H += percdamp * torch.diag(H).mean() * torch.eye(H.shape[0], dtype=H.dtype)
    return H


def _sequential_obs_reference(w, H, mask):
    """Brute force: columns left to right; pruning column i applies the OBS update with the
    explicitly inverted Hessian of the still-free columns i.. (earlier columns are frozen)."""
    w = w.clone()
    cols = w.shape[1]
    for i in range(cols):
        Hinv = torch.linalg.inv(H[i:, i:])
        for r in range(w.shape[0]):
            if mask[r, i]:
                w[r, i:] -= w[r, i] / Hinv[0, 0] * Hinv[0, :]
    return w


def test_sparsegpt_first_column_is_classical_obs_closed_form():
    # Pruning only column 0 of every row: the update is OBS's closed form
    # delta = -w_q / [H^-1]_qq * H^-1[q, :] with the full inverse Hessian.
    w, x = _layer()
    H = x.t() @ x
    mask = torch.zeros_like(w, dtype=torch.bool)
    mask[:, 0] = True
    got, _ = sparsegpt_prune(w.float(), H.float(), 0.5, mask=mask)
    Hinv = torch.linalg.inv(_damped_inverse(H))
    want = w - (w[:, :1] / Hinv[0, 0]) * Hinv[0:1, :]
    assert torch.allclose(got.double(), want, atol=1e-4)
    assert (got[:, 0] == 0).all()


def test_sparsegpt_pruned_prefix_is_least_squares_optimum():
    # When the pruned columns all precede the kept ones, sequential OBS must reach the joint
    # optimum argmin ||(W - W')X||^2 s.t. W'_P = 0, i.e. W'_K = W_K + W_P H_PK H_KK^-1.
    w, x = _layer()
    H = _damped_inverse(x.t() @ x)
    mask = torch.zeros_like(w, dtype=torch.bool)
    mask[:, :6] = True
    got, _ = sparsegpt_prune(w.float(), (x.t() @ x).float(), 0.5, mask=mask, blocksize=4)
    P, K = slice(0, 6), slice(6, 16)
    want = torch.zeros_like(w)
    want[:, K] = w[:, K] + w[:, P] @ H[P, K] @ torch.linalg.inv(H[K, K])
    assert torch.allclose(got.double(), want, atol=1e-3)


@pytest.mark.parametrize("blocksize", [16, 4, 3])
def test_sparsegpt_matches_sequential_obs_for_any_mask_and_blocksize(blocksize):
    w, x = _layer()
    H = x.t() @ x
    mask = torch.rand(8, 16, generator=_gen(3)) < 0.5
    got, got_mask = sparsegpt_prune(w.float(), H.float(), 0.5, mask=mask, blocksize=blocksize)
    want = _sequential_obs_reference(w, _damped_inverse(H), mask)
    assert torch.equal(got_mask, mask)
    assert torch.allclose(got.double(), want.masked_fill(mask, 0), atol=1e-3)


def test_sparsegpt_adaptive_mask_exact_per_block_and_beats_plain_masking():
    w, x = _layer(rows=16, cols=32, tokens=512)
    H = (x.t() @ x).float()
    got, mask = sparsegpt_prune(w.float(), H, 0.5, blocksize=8)
    for b in range(0, 32, 8):
        assert int(mask[:, b:b + 8].sum()) == 16 * 8 // 2  # exact per comparison group (block)
    assert (got[mask] == 0).all()
    err = lambda v: float(((w.float() - v) @ x.float().t()).norm())  # noqa: E731
    assert err(got) < err(w.float().masked_fill(mask, 0))


@pytest.mark.parametrize("n,m", [(2, 4), (1, 4), (2, 8), (4, 8)])
def test_sparsegpt_nm_keeps_exactly_n_and_is_blocksize_invariant(n, m):
    w, x = _layer(rows=8, cols=32)
    H = (x.t() @ x).float()
    a, ma = sparsegpt_prune(w.float(), H, 1 - n / m, (n, m), blocksize=32)
    b, mb = sparsegpt_prune(w.float(), H, 1 - n / m, (n, m), blocksize=8)
    assert (ma.view(8, 32 // m, m).sum(-1) == m - n).all()
    assert (nm_group_nonzeros(a, m) == n).all()
    assert torch.equal(ma, mb) and torch.allclose(a, b, atol=1e-4)


def test_sparsegpt_dead_inputs_are_zeroed():
    w, x = _layer()
    x[:, 3] = 0
    got, _ = sparsegpt_prune(w.float(), (x.t() @ x).float(), 0.25)
    assert (got[:, 3] == 0).all()


# ---------------------------------------------------------------- OWL
def test_outlier_ratio_bruteforce():
    scores = [torch.rand(4, 6, generator=_gen(1)) ** 8, torch.rand(3, 5, generator=_gen(2)) ** 8]
    flat = [float(v) for s in scores for v in s.flatten()]
    mean = sum(flat) / len(flat)
    want = 100 * sum(v > 5 * mean for v in flat) / len(flat)
    assert outlier_ratio(scores, 5.0) == pytest.approx(want)


def test_owl_sparsities_follow_paper_formula():
    ratios = [2.0, 7.5, 4.0, 1.0, 3.3]
    got = owl_sparsities(ratios, 0.7, 0.08)
    lo, hi = min(ratios), max(ratios)
    scaled = [(r - lo) / (hi - lo) * 0.16 for r in ratios]
    want = [1 - (s - sum(scaled) / 5 + 0.3) for s in scaled]
    assert got == pytest.approx(want)
    assert sum(got) / 5 == pytest.approx(0.7)
    assert max(got) - min(got) == pytest.approx(0.16)
    assert got[1] == min(got)  # most outliers -> least pruned


# ---------------------------------------------------------------- DSnoT
def _dsnot_reference(w, mask, xbar, var, score, cycles=50, thr=0.1):
    """Row-by-row transcription of DSnoT's unstructured loop (Zhang et al. 2024, Alg. 1)."""
    mask = mask.clone()
    rows, cols = w.shape
    for r in range(rows):
        d = [float(w[r, j] * xbar[j]) for j in range(cols)]
        err = sum(d[j] for j in range(cols) if mask[r, j])
        sign0 = (err > 0) - (err < 0)
        key = [d[j] / float(var[j]) for j in range(cols)]
        gpos = sorted([j for j in range(cols) if mask[r, j] and d[j] > 0], key=lambda j: -key[j])
        gneg = sorted([j for j in range(cols) if mask[r, j] and d[j] < 0], key=lambda j: key[j])
        pneg = sorted([j for j in range(cols) if not mask[r, j] and d[j] < 0], key=lambda j: float(score[r, j]))
        ppos = sorted([j for j in range(cols) if not mask[r, j] and d[j] > 0], key=lambda j: float(score[r, j]))
        for _ in range(cycles):
            pos = err > 0
            gq, pq = (gpos, pneg) if pos else (gneg, ppos)
            if not gq or not pq:
                break
            g, p = gq.pop(0), pq.pop(0)
            after = err + d[p] - d[g]
            if not (abs(err) > thr and ((after > 0) - (after < 0)) == sign0):
                break
            mask[r, g], mask[r, p] = False, True
            err = after
    return mask


def test_dsnot_matches_row_by_row_reference_and_keeps_sparsity():
    w, x = _layer(rows=12, cols=32, tokens=300)
    w, x = w.float(), x.float()
    xbar, var = x.sum(0) / 4, x.var(0, unbiased=False)  # 4 sequences of 75 tokens
    score = w.abs() * x.norm(dim=0)
    mask = row_mask(score, 0.5)
    w2, m2, swaps = dsnot(w, w.masked_fill(mask, 0), mask, xbar, var, score)
    assert swaps > 0
    assert torch.equal(m2, _dsnot_reference(w, mask, xbar, var, score))
    assert torch.equal(m2.sum(1), mask.sum(1))
    assert torch.equal(w2, w.masked_fill(m2, 0))
    before = expected_error(w, w.masked_fill(mask, 0), xbar).abs()
    after = expected_error(w, w2, xbar).abs()
    assert (after <= before + 1e-5).all() and after.sum() < before.sum()


@pytest.mark.parametrize("n,m", [(2, 4), (1, 4)])
def test_dsnot_nm_stays_valid_and_lowers_error(n, m):
    w, x = _layer(rows=12, cols=32, tokens=300)
    w, x = w.float(), x.float()
    xbar, var = x.sum(0) / 4, x.var(0, unbiased=False)
    score = w.abs() * x.norm(dim=0)
    mask = nm_mask(score, n, m)
    w2, m2, swaps = dsnot(w, w.masked_fill(mask, 0), mask, xbar, var, score, (n, m))
    assert swaps > 0
    assert (nm_group_nonzeros(w2, m) == n).all()
    assert expected_error(w, w2, xbar).abs().sum() < expected_error(w, w.masked_fill(mask, 0), xbar).abs().sum()


def test_dsnot_on_uneven_mask_keeps_each_row_count():
    w, x = _layer(rows=12, cols=32, tokens=300)
    w, x = w.float(), x.float()
    mask = magnitude_mask(w, 0.5)
    _, m2, _ = dsnot(w, w.masked_fill(mask, 0), mask, x.sum(0), x.var(0), w.abs() * x.norm(dim=0))
    assert torch.equal(m2.sum(1), mask.sum(1))
