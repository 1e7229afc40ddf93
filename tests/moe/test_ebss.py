"""Expert-balanced self-generation (EBSS reading): beam search that trades likelihood for balance."""

from __future__ import annotations

import numpy as np
import pytest
from moe_models import tiny_moe

from curate.steps.ebss import beam_scores, ebss_generate, load_cv


def test_load_cv_is_zero_for_even_load_and_grows_with_imbalance():
    assert load_cv(np.array([[4, 4, 4, 4]])) == 0.0
    assert load_cv(np.array([[8, 0, 0, 0]])) > load_cv(np.array([[5, 1, 1, 1]])) > 0
    s = beam_scores(np.array([-4.0, -4.0]), 2, np.array([[[2, 2]], [[4, 0]]]), 1.0)
    assert s[0] > s[1] and s[0] == pytest.approx(-2.0)


@pytest.fixture(scope="module")
def mixtral():
    return tiny_moe("mixtral", seed=1)


def test_generates_exactly_n_tokens_without_suppressed_ones(mixtral):
    gen, facts = ebss_generate(mixtral, [5, 6], 12, beam_width=3, suppress=[2])
    assert len(gen) == 12 and 2 not in gen and facts["load_cv"] >= 0


def test_balance_weight_buys_a_more_even_expert_load(mixtral):
    cv = {}
    for lam in (0.0, 50.0):
        cv[lam] = np.mean([ebss_generate(mixtral, [p], 16, beam_width=4, balance_weight=lam)[1]["load_cv"]
                           for p in (3, 17, 40, 77)])
    assert cv[50.0] < cv[0.0]


def test_width_one_without_balance_is_greedy(mixtral):
    import torch

    gen, _ = ebss_generate(mixtral, [9], 6, beam_width=1, balance_weight=0.0, temperature=1.0)
    greedy = mixtral.generate(torch.tensor([[9]]), max_new_tokens=6, do_sample=False, min_new_tokens=6)[0, 1:].tolist()
    assert gen == greedy
