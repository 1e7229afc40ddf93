"""Statistics under a token mask (``PruneConfig.mask``): they count exactly the masked tokens."""

from __future__ import annotations

import pytest
import torch
from tiny_models import tiny_llama

from prune_backend import PruneConfig, PruneError, decoder_layers, prune_model
from prune_backend.driver import StatsCollector as _StatsCollector
from prune_backend.driver import capture_inputs
from prune_backend.driver import run_layer as _run_layer
from prune_backend.methods.base import LinearStats


def _ids(n=6, L=16, seed=0):
    return torch.randint(3, 256, (n, L), generator=torch.Generator().manual_seed(seed))


def _mask(n=6, L=16, seed=1):
    m = (torch.rand(n, L, generator=torch.Generator().manual_seed(seed)) < 0.4).long()
    m[0, :] = 0  # a row with no masked token
    return m


def test_masked_statistics_equal_statistics_of_the_masked_tokens_only():
    model = tiny_llama(layers=1)
    ids, mask = _ids(), _mask()
    batches = capture_inputs(model, ids, None, torch.device("cpu"), batch_size=4, stat_mask=mask)
    layer = decoder_layers(model)[0]
    lins = {n: m for n, m in layer.named_modules() if isinstance(m, torch.nn.Linear)}
    col = _StatsCollector(lins, hessian=True, stop_early=True)
    for b in batches:
        col.run(layer, b, 0)
    col.remove()
    # reference: every linear's full input (B, L, in), then keep the masked rows by hand
    xs = {n: [] for n in lins}
    hs = [m.register_forward_pre_hook(lambda mod, a, n=n: xs[n].append(a[0])) for n, m in lins.items()]
    with torch.no_grad():
        for b in batches:
            _run_layer(layer, b, 0)
    for h in hs:
        h.remove()
    keep = mask.bool().reshape(-1)
    for n in lins:
        full = torch.cat([x.reshape(-1, x.shape[-1]) for x in xs[n]])  # (N*L, in)
        ref = LinearStats.from_inputs(full[keep], hessian=True)
        st = col.stats_for(n)
        assert st.ntokens == int(mask.sum()) < full.shape[0]
        assert torch.allclose(st.sumsq, ref.sumsq, rtol=1e-5, atol=1e-6)
        assert torch.allclose(st.hessian, ref.hessian, rtol=1e-5, atol=1e-5)


def test_mask_changes_wanda_and_all_ones_mask_changes_nothing():
    def pruned(cfg, stat_mask):
        torch.manual_seed(0)
        model = tiny_llama(layers=2)
        prune_model(model, _ids(), cfg, stat_mask=stat_mask, progress=False)
        return torch.cat([p.flatten() for p in model.parameters()])

    plain = pruned(PruneConfig(method="wanda", batch_size=4), None)
    ones = pruned(PruneConfig(method="wanda", batch_size=4, mask="assistant"), torch.ones(6, 16))
    masked = pruned(PruneConfig(method="wanda", batch_size=4, mask="assistant"), _mask())
    assert torch.equal(plain, ones)
    assert not torch.equal(plain, masked)
    # mask "none" ignores a stat_mask
    assert torch.equal(plain, pruned(PruneConfig(method="wanda", batch_size=4), _mask()))


def test_mask_without_stat_mask_is_refused():
    model = tiny_llama(layers=1)
    with pytest.raises(PruneError, match="stat_mask"):
        prune_model(model, _ids(), PruneConfig(method="wanda", mask="assistant"), progress=False)
    with pytest.raises(PruneError, match="marks no token"):
        prune_model(model, _ids(), PruneConfig(method="wanda", mask="assistant"),
                    stat_mask=torch.zeros(6, 16), progress=False)
    with pytest.raises(PruneError):
        PruneConfig(mask="user")
