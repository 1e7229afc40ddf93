"""OWL's streaming dense pass (one activation copy, layer 0's statistics reused, the last layer
stopped early) gives the very masks and weights of the earlier three-copy version, kept here as
the reference (prune_backend/sequential.py at e5aae8e)."""

from __future__ import annotations

import pytest
import torch
from tiny_models import tiny_llama

import prune_backend.driver as drv
import prune_backend.sequential as seq
from prune_backend import PruneConfig, prune_model
from prune_backend.layers import decoder_layers
from prune_backend.methods.owl import outlier_ratio, owl_sparsities
from prune_backend.methods.wanda import wanda_score


def _ref_outlier_ratio(scores, m=5.0):
    total = sum(s.numel() for s in scores)
    mean = sum(float(s.double().sum()) for s in scores) / total
    count = sum(int((s > mean * m).sum()) for s in scores)
    return 100.0 * count / total


@torch.no_grad()
def _ref_owl_layer_sparsities(layers, batches, cfg, device, progress, hessian=False):
    hidden = [b.hidden for b in batches]
    ratios = []
    for i in range(len(layers)):
        layer = layers[i]
        col = drv.StatsCollector(seq._linears(layer), hessian=False, stop_early=False)
        try:
            outs = [col.run(layer, drv.Batch(h, b.kwargs), i) for h, b in zip(hidden, batches, strict=True)]
        finally:
            col.remove()
        scores = [wanda_score(m.weight, col.stats_for(n).sq_norm) for n, m in col.linears.items()]
        ratios.append(_ref_outlier_ratio(scores, cfg.owl_m))
        hidden = outs
    return ratios, owl_sparsities(ratios, cfg.sparsity, cfg.owl_lambda), None


def test_outlier_ratio_callable_equals_list():
    g = torch.Generator().manual_seed(0)
    scores = [torch.rand(8, 16, generator=g) ** 4, torch.rand(4, 16, generator=g) ** 4]
    assert outlier_ratio(lambda: iter(scores), 3.0) == outlier_ratio(scores, 3.0) == _ref_outlier_ratio(scores, 3.0)
    assert outlier_ratio(scores, 3.0) > 0


@pytest.mark.parametrize("method", ["wanda", "sparsegpt"])
def test_streaming_owl_equals_reference(monkeypatch, method):
    ids = torch.randint(3, 256, (6, 24), generator=torch.Generator().manual_seed(0))
    cfg = PruneConfig(method=method, sparsity=0.6, owl=True, batch_size=4, blocksize=16)
    a = tiny_llama(layers=3, hidden=32, intermediate=64)
    b = tiny_llama(layers=3, hidden=32, intermediate=64)
    b.load_state_dict(a.state_dict())
    got = prune_model(a, ids, cfg, progress=False)
    monkeypatch.setattr(seq, "_owl_layer_sparsities", _ref_owl_layer_sparsities)
    want = prune_model(b, ids, cfg, progress=False)
    assert got.outlier_ratios == want.outlier_ratios and got.layer_sparsity == want.layer_sparsity
    assert len(set(got.layer_sparsity)) > 1
    for la, lb in zip(decoder_layers(a), decoder_layers(b), strict=True):
        for (name, pa), (_, pb) in zip(la.named_parameters(), lb.named_parameters(), strict=True):
            assert torch.equal(pa == 0, pb == 0), name
            torch.testing.assert_close(pa, pb, rtol=1e-5, atol=1e-7)
