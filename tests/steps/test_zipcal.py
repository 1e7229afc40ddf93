import random

import pytest

from curate.recipe import load_recipe
from curate.scoring.functional import words
from curate.steps.zipcal import zipcal_select


def test_selection_flattens_the_rank_frequency_curve():
    idx, info = zipcal_select(_pool(), 12)
    assert info["zipf_alpha_selected"] < info["zipf_alpha_pool"]


def _pool(n=80, seed=0):
    """Half the pool repeats the same 10 frequent words, half draws from 400 rare ones."""
    rng = random.Random(seed)
    common = [f"c{i}" for i in range(10)]
    rare = [f"r{i}" for i in range(400)]
    return [" ".join(rng.choice(common if i % 2 else rare) for _ in range(30)) for i in range(n)]


def test_greedy_covers_more_types_than_any_random_choice():
    texts = _pool()
    idx, info = zipcal_select(texts, 12)
    assert len(idx) == 12 and idx == sorted(set(idx))
    covered = len({w for i in idx for w in words(texts[i])})
    assert covered == info["types_covered"]
    rng = random.Random(1)
    for _ in range(20):
        rnd = rng.sample(range(len(texts)), 12)
        assert covered > len({w for i in rnd for w in words(texts[i])})
    assert all(i % 2 == 0 for i in idx)  # the rare-word half is chosen
    assert zipcal_select(texts, 12)[0] == idx  # deterministic


def test_pool_smaller_than_n_is_an_error():
    with pytest.raises(ValueError, match="at least n=5"):
        zipcal_select(["a b", "c d"], 5)


def test_recipe_validates_and_names_the_step():
    r = load_recipe("zipcal")
    assert r.steps[0].type == "zipcal" and r.pool_size == 4 * r.n_samples
