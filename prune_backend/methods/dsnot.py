"""DSnoT: training-free prune-and-grow on top of any mask, sparsity kept.

    import torch
    from prune_backend.methods.dsnot import dsnot
    w, x = torch.randn(8, 16), torch.randn(200, 16) + 0.5
    mask = torch.rand(8, 16) < 0.5                          # True = pruned, any initial mask
    w2, mask2, swaps = dsnot(w, w.masked_fill(mask, 0), mask, x.sum(0), x.var(0, unbiased=False),
                             w.abs() * x.norm(dim=0))
    (mask2.sum(1) == mask.sum(1)).all()                      # True: per-row sparsity unchanged

Zhang et al. 2024, "Dynamic Sparse No Training: Training-Free Fine-tuning for Sparse LLMs"
(ICLR 2024, arXiv 2310.08915), Algorithm 1, following the reference implementation
(zyxxmu/DSnoT, defaults max_cycle_time 50, update_threshold 0.1, pow_of_var_regrowing 1):

* Expected reconstruction error of output row i: e_i = sum_j (W_ij - W'_ij) * xbar_j, where
  xbar_j is the per-sequence sum of input j averaged over sequences (the reference's unit, which
  fixes the meaning of the 0.1 threshold). W' is the current sparse weight; with Wanda and
  magnitude W' = W on kept entries, so this is the paper's sum over pruned weights of W_ij xbar_j.
* Grow: the pruned weight whose W_ij xbar_j / Var(x_j)^p has the sign of e_i and the largest
  magnitude (growing it moves e_i toward 0 by W_ij xbar_j).
* Prune: unstructured, the kept weight with the smallest score (Wanda's |W| ||X||) among those
  whose W'_ij xbar_j has the opposite sign of e_i; N:M, the kept weight of smallest score in the
  grown weight's group of M (so every group keeps its N non-zeros).
* A row swaps only while |e_i| > threshold and the swap keeps the sign of e_i; it stops for good
  at the first refused swap or after ``max_cycles``.

Each cycle is a few vector ops over all rows at once. Every candidate queue holds only entries
of the right state (pruned for growing, kept for pruning), so a swap never changes a row's count
of zeros, even for masks with uneven rows (magnitude, SparseGPT).
"""

from __future__ import annotations

import torch


def _queue(key: torch.Tensor, valid: torch.Tensor, descending: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row order of the valid entries by ``key``: (indices (rows, cols), count (rows,))."""
    fill = float("-inf") if descending else float("inf")
    order = torch.sort(key.masked_fill(~valid, fill), dim=1, descending=descending, stable=True).indices
    return order, valid.sum(1)


def expected_error(w_dense: torch.Tensor, w_cur: torch.Tensor, xbar: torch.Tensor) -> torch.Tensor:
    """e_i = sum_j (W - W')_ij xbar_j, (rows,)."""
    return (w_dense.float() - w_cur.float()) @ xbar.float()


@torch.no_grad()
def dsnot(
    w_dense: torch.Tensor,
    w_cur: torch.Tensor,
    mask: torch.Tensor,
    xbar: torch.Tensor,
    var: torch.Tensor,
    score: torch.Tensor,
    nm: tuple[int, int] | None = None,
    *,
    max_cycles: int = 50,
    threshold: float = 0.1,
    var_power: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Prune-and-grow on ``mask`` (True = pruned). Returns (W' fp32, new mask, number of swaps).

    w_dense, w_cur, mask, score: (rows, cols); xbar, var: (cols,). A grown weight takes its dense
    value back; a pruned one becomes 0; other weights are untouched.
    """
    rows, cols = w_dense.shape
    dev = w_dense.device
    W = w_dense.float()
    Wc = w_cur.float().masked_fill(mask, 0.0).clone()
    mask = mask.clone()
    xbar = xbar.float().to(dev)
    grow_d = W * xbar  # change of e_i when weight ij is grown (subtracted), (rows, cols)
    prune_d = Wc * xbar  # change of e_i when weight ij is pruned (added)
    err = expected_error(W, Wc, xbar)  # (rows,)
    sign0 = torch.sign(err)
    grow_key = grow_d / var.float().to(dev).clamp_min(1e-12).pow(var_power).unsqueeze(0)
    ar = torch.arange(rows, device=dev)

    # Grow queues: e > 0 grows the largest positive key first, e < 0 the most negative first.
    gpos, n_gpos = _queue(grow_key, mask & (grow_d > 0), descending=True)
    gneg, n_gneg = _queue(grow_key, mask & (grow_d < 0), descending=False)
    ptr = {k: torch.zeros(rows, dtype=torch.long, device=dev) for k in ("gpos", "gneg", "ppos", "pneg")}
    if nm is None:
        kept = ~mask
        # Prune queues in ascending score: e > 0 prunes a negative contribution, e < 0 a positive.
        pneg, n_pneg = _queue(score.float(), kept & (prune_d < 0), descending=False)
        ppos, n_ppos = _queue(score.float(), kept & (prune_d > 0), descending=False)
    else:
        m = nm[1]
        # Grown weights may not be pruned again within this call (the reference marks them inf).
        nm_score = score.float().masked_fill(mask, float("inf"))

    active = torch.ones(rows, dtype=torch.bool, device=dev)
    swaps = 0
    for _ in range(max_cycles):
        if not bool(active.any()):
            break
        pos = err > 0  # (rows,)
        gp, gn = ptr["gpos"], ptr["gneg"]
        g_idx = torch.where(pos, gpos[ar, gp.clamp_max(cols - 1)], gneg[ar, gn.clamp_max(cols - 1)])
        g_ok = torch.where(pos, gp < n_gpos, gn < n_gneg)
        if nm is None:
            pn, pp = ptr["pneg"], ptr["ppos"]
            p_idx = torch.where(pos, pneg[ar, pn.clamp_max(cols - 1)], ppos[ar, pp.clamp_max(cols - 1)])
            p_ok = torch.where(pos, pn < n_pneg, pp < n_ppos)
        else:
            start = g_idx - g_idx % m  # (rows,) first column of the grown weight's group
            group = start.unsqueeze(1) + torch.arange(m, device=dev)  # (rows, m)
            p_local = nm_score.gather(1, group).argmin(1)
            p_idx = start + p_local
            p_ok = torch.isfinite(nm_score[ar, p_idx])
        g_val = grow_d[ar, g_idx]
        p_val = prune_d[ar, p_idx]
        after = err + p_val - g_val
        active = active & g_ok & p_ok & (err.abs() > threshold) & (torch.sign(after) == sign0)
        # Advance the queues that were read (as the reference does, also for refused rows).
        ptr["gpos"] = gp + pos.long()
        ptr["gneg"] = gn + (~pos).long()
        if nm is None:
            ptr["pneg"] = pn + pos.long()
            ptr["ppos"] = pp + (~pos).long()
        r = ar[active]
        if r.numel() == 0:
            break
        gi, pi = g_idx[active], p_idx[active]
        mask[r, gi] = False
        mask[r, pi] = True
        Wc[r, gi] = W[r, gi]
        Wc[r, pi] = 0.0
        err = torch.where(active, after, err)
        if nm is not None:
            nm_score[r, pi] = float("inf")
        swaps += int(r.numel())
    return Wc, mask, swaps
