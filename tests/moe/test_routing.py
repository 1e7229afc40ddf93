"""Router discovery and routing counts on six MoE architectures; the coverage statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from moe_models import MOE_ARCHS, VOCAB, E, K, tiny_moe

from curate.errors import CurateError
from curate.moe.routing import (
    coverage,
    find_routers,
    layer_coverage,
    normalized_entropy,
    routing_counts,
)


@pytest.fixture(scope="module", params=MOE_ARCHS)
def moe(request):
    return request.param, tiny_moe(request.param)


def test_every_architecture_has_its_routers_found(moe):
    arch, model = moe
    routers = find_routers(model)
    # DeepSeek-V3 keeps layer 0 dense (first_k_dense_replace=1); the others route in both layers
    assert [r.layer for r in routers] == ([1] if arch == "deepseek_v3" else [0, 1])
    assert all(r.num_experts == E and r.top_k == K for r in routers)
    assert all(r.name.endswith(("gate", "router")) and "shared" not in r.name for r in routers)


def test_counts_sum_to_k_per_token_and_skip_padding(moe):
    _, model = moe
    seqs = [torch.randint(0, VOCAB, (n,)) for n in (16, 9, 12)]  # padded per batch
    rc = routing_counts(model, seqs, batch_size=2)
    assert rc.counts.shape == (3, len(rc.layers), E)
    assert (rc.counts.sum(-1) == K * np.array([16, 9, 12])[:, None]).all()
    alone = np.concatenate([routing_counts(model, [s], batch_size=1).counts for s in seqs])
    assert (rc.counts == alone).all()  # padding changes nothing: masked positions are not counted


def test_counts_are_the_experts_the_router_chose():
    """Mixtral: recompute top-k of softmax(x W^T) from the MoE block's input, independently."""
    model = tiny_moe("mixtral")
    ids = torch.randint(0, VOCAB, (4, 10))
    inputs = []
    h = model.model.layers[1].mlp.register_forward_pre_hook(lambda _m, a: inputs.append(a[0].reshape(-1, a[0].shape[-1])))
    try:
        rc = routing_counts(model, ids, batch_size=4)
    finally:
        h.remove()
    w = model.model.layers[1].mlp.gate.weight
    chosen = torch.softmax(inputs[0] @ w.T, -1).topk(K, -1).indices.reshape(4, 10 * K)  # (B, L*k)
    expect = np.stack([np.bincount(r.numpy(), minlength=E) for r in chosen])
    assert (rc.counts[:, 1] == expect).all()


def test_decoder_only_no_lm_head():
    model = tiny_moe("qwen3_moe")
    called = []
    h = model.lm_head.register_forward_hook(lambda *a: called.append(1))
    try:
        routing_counts(model, torch.randint(0, VOCAB, (2, 8)))
    finally:
        h.remove()
    assert not called


def test_unfused_linear_gate_is_read_by_top_k_of_its_logits():
    """Older checkpoints / remote code: the gate is an nn.Linear(H, E) returning logits."""
    from tiny_models import tiny_llama

    class LegacyMoe(torch.nn.Module):
        def __init__(self, hidden, experts):
            super().__init__()
            self.gate = torch.nn.Linear(hidden, experts, bias=False)
            self.experts = torch.nn.ModuleList(torch.nn.Linear(hidden, hidden, bias=False) for _ in range(experts))

        def forward(self, x):
            flat = x.reshape(-1, x.shape[-1])
            top = self.gate(flat).topk(K, -1).indices
            out = torch.zeros_like(flat)
            for e, ex in enumerate(self.experts):
                rows = (top == e).any(-1)
                out[rows] += ex(flat[rows])
            return out.reshape(x.shape)

    model = tiny_llama(vocab_size=VOCAB, hidden=32, layers=2)
    model.config.num_experts_per_tok = K
    for layer in model.model.layers:
        layer.mlp = LegacyMoe(32, E)
    rc = routing_counts(model, torch.randint(0, VOCAB, (3, 8)))
    assert rc.layers == [0, 1] and (rc.counts.sum(-1) == K * 8).all()


def test_dense_model_is_refused_in_one_line(tiny_lm):
    model, _ = tiny_lm
    with pytest.raises(CurateError, match="no expert routers") as e:
        routing_counts(model, torch.randint(0, 100, (1, 4)))
    assert "\n" not in e.value.one_line()


def test_entropy_and_load_statistics():
    assert normalized_entropy([5, 5, 5, 5]) == pytest.approx(1.0)
    assert normalized_entropy([7, 0, 0, 0]) == pytest.approx(0.0)
    assert normalized_entropy([3, 1]) == pytest.approx(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)) / math.log(2))
    assert math.isnan(normalized_entropy([0, 0]))
    c = layer_coverage([10, 2, 0, 30], min_tokens=3)
    assert c["experts_under_min"] == 2 and c["share_under_min"] == 0.5 and c["max_over_min"] is None
    assert layer_coverage([10, 5], min_tokens=1)["max_over_min"] == 2.0
    cov = coverage(np.array([[4, 4], [8, 0]]), total_tokens=4, min_tokens=1, layers=[3, 7])
    assert cov["experts_under_min"] == 1 and cov["experts"] == 4 and cov["experts_unreached"] == 1
    assert cov["entropy_min"] == 0.0 and cov["entropy_mean"] == 0.5 and [x["layer"] for x in cov["layers"]] == [3, 7]
    assert coverage(np.array([[900, 100]]), total_tokens=1000)["min_tokens"] == 5  # 0.5 % of the tokens
