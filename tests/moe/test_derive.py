"""MoEfication of a tiny Llama into Mixtral: balanced clusters, a router that ranks, dense logits at top-k = E."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from curate.errors import CurateError
from curate.moe.derive import (
    balanced_assign,
    balanced_kmeans,
    build_mixtral,
    check,
    expert_mass,
    fit_moefication,
    fit_router,
    mixtral_config,
    top_k_recall,
)


def test_balanced_assign_respects_capacity_and_margins():
    sim = np.array([[0.9, 0.1], [0.8, 0.7], [0.95, 0.0], [0.2, 0.3]])
    lab = balanced_assign(sim, capacity=2)
    assert np.bincount(lab, minlength=2).tolist() == [2, 2]
    assert lab[2] == 0 and lab[0] == 0  # the most decided rows get their first choice
    assert lab[1] == 1  # row 1 has the smallest margin: it yields


def test_balanced_kmeans_recovers_planted_co_activation_groups():
    rng = np.random.default_rng(0)
    groups = rng.permutation(np.repeat(np.arange(4), 6))  # 24 neurons, 4 groups of 6
    patterns = rng.random((4, 200)) < 0.2  # each group fires on its own tokens
    x = patterns[groups] * rng.uniform(0.5, 1.5, (24, 200))
    lab = balanced_kmeans(x, 4, seed=0)
    assert np.bincount(lab).tolist() == [6, 6, 6, 6]
    for g in range(4):  # every planted group lands in one cluster
        assert len(set(lab[groups == g])) == 1


def test_router_fit_ranks_the_experts_that_hold_the_mass():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(500, 16))
    w = rng.normal(size=(3, 16))
    target = np.exp(x @ w.T)
    target /= target.sum(1, keepdims=True)
    fitted = fit_router(x, target, ridge=1e-4)
    assert top_k_recall(x @ fitted.T, target, 1) > 0.9
    h = np.array([[1.0, -2.0, 0.0, 3.0]])
    assert expert_mass(h, np.array([0, 0, 1, 1]), 2).tolist() == [[0.5, 0.5]]


@pytest.fixture(scope="module")
def tiny_plan():
    from tiny_models import tiny_llama

    dense = tiny_llama(vocab_size=128, hidden=32, layers=2, intermediate=64, seed=3)
    plan = fit_moefication(dense, torch.randint(0, 128, (8, 32), generator=torch.Generator().manual_seed(0)), experts=4)
    return dense, plan


def test_top_k_equal_to_experts_reproduces_the_dense_logits(tiny_plan):
    dense, plan = tiny_plan
    ev = torch.randint(0, 128, (3, 24), generator=torch.Generator().manual_seed(1))
    figures = check(dense, plan, ev, top_ks=(2,), router_scale=1e-5)
    assert figures["max_abs_logit_diff_top_k_eq_E"] < 1e-4
    assert np.isfinite(figures["heldout_ppl_top_2"])
    assert all(np.bincount(lab).tolist() == [16] * 4 for lab in plan["labels"])  # equal experts


def test_saved_mixtral_reloads_with_the_same_logits(tiny_plan, tmp_path):
    from transformers import AutoModelForCausalLM

    dense, plan = tiny_plan
    moe = build_mixtral(dense, plan, top_k=2)
    moe.save_pretrained(tmp_path)
    back = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    x = torch.randint(0, 128, (2, 16))
    with torch.no_grad():
        assert type(back).__name__ == "MixtralForCausalLM"
        assert torch.equal(back(x).logits, moe(x).logits)
    assert back.config.curate_moefication["experts"] == 4


def test_bad_derivations_fail_with_one_line():
    from transformers import LlamaConfig

    cfg = LlamaConfig(hidden_size=32, intermediate_size=60, num_attention_heads=4, num_key_value_heads=2)
    with pytest.raises(CurateError, match="does not divide"):
        mixtral_config(cfg, 8, 2)
    cfg.intermediate_size = 64
    with pytest.raises(CurateError, match="--top-k 9"):
        mixtral_config(cfg, 8, 9)
