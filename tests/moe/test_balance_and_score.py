"""The expert_balanced selector and the expert_coverage scorer end to end on a tiny Mixtral:
greedy balance, extras/expert_coverage.json, the card, curate show, the validate table."""

from __future__ import annotations

import json

import numpy as np
import pytest
from moe_models import tiny_moe
from tiny_models import TINY_VOCAB, tiny_tokenizer

from curate.moe.routing import normalized_entropy
from curate.steps.expert_balanced import _objective, greedy_balance


def test_greedy_balance_picks_the_complementary_samples():
    counts = np.array([[[10, 0]], [[9, 1]], [[0, 10]], [[8, 2]]])  # (N=4, R=1, E=2)
    picked, trace = greedy_balance(counts, 2)
    # the most even sample first, then the one whose tokens go where the set is thinnest
    assert picked == [3, 2] and trace == pytest.approx([normalized_entropy([8, 2]), normalized_entropy([8, 12])])
    counts = np.array([[[5, 0]], [[5, 0]], [[0, 5]]])
    assert greedy_balance(counts, 2)[0] == [0, 2]  # ties: the lowest index


def test_greedy_balance_beats_random_subsets():
    rng = np.random.default_rng(0)
    counts = rng.multinomial(40, rng.dirichlet(np.ones(8) * 0.3, size=(60, 3)).reshape(-1, 8)).reshape(60, 3, 8)
    picked, _ = greedy_balance(counts, 10)
    best = _objective(counts[picked].sum(0).astype(float))
    rand = [_objective(counts[rng.choice(60, 10, replace=False)].sum(0).astype(float)) for _ in range(200)]
    assert best > max(rand)


@pytest.fixture(scope="module")
def moe_ctx():
    from curate.context import RunContext
    from curate.models import ModelInfo, tokenizer_fingerprint

    model, tok = tiny_moe("mixtral", vocab_size=TINY_VOCAB), tiny_tokenizer()
    info = ModelInfo("tiny-moe", "local", "/tiny-moe", None, "0" * 64, tokenizer_fingerprint(tok))
    return RunContext.from_objects(model, tok, info, seed=0, batch_size=4, progress=False)


def _build(tmp_path, ctx, steps, name):
    from curate.build import build_recipe
    from curate.recipe import parse_recipe

    recipe = parse_recipe({"name": name, "seed": 0, "seq_len": 16, "n_samples": 6, "pool_size": 24 if steps else 6,
                           "components": [{"source": {"type": "bundled", "name": n}, "steps": [{"type": "sample"}]}
                                          for n in ("wikipedia", "python-stdlib")],
                           **({"steps": steps} if steps else {})})
    return build_recipe(recipe, tmp_path / "out", ctx=ctx, progress=False)


def test_balanced_set_is_more_even_than_the_pool_and_is_scored_stored_and_shown(tmp_path, moe_ctx):
    from curate.score import ScoreConfig, score_inputs, store_beside, summary_markdown
    from curate.sets.catalog import format_show, show_set

    res = _build(tmp_path, moe_ctx, [{"type": "expert_balanced"}], "balanced")
    step = next(s for s in res.manifest["steps"] if s["name"] == "expert_balanced")
    info = step["extra"]["expert_balanced"]
    assert step["kept"] == 6 and info["kept_entropy"] > info["pool_entropy"] - 0.2  # 6 of 24 stay near the pool's evenness

    cfg = ScoreConfig(model="tiny-moe", scores=("expert_coverage",), progress=False)
    scored = score_inputs([str(res.path)], cfg, ctx=moe_ctx)[0]
    cov = scored.set_level["expert_coverage"]
    assert cov["tokens"] == 6 * 16 and cov["moe_layers"] == 2
    assert all(sum(x["tokens_per_expert"]) == 2 * 6 * 16 for x in cov["layers"])  # k tokens each
    assert cov["entropy_mean"] == pytest.approx(np.mean([normalized_entropy(x["tokens_per_expert"]) for x in cov["layers"]]),
                                                abs=1e-6)
    assert all(0 <= s.scores["expert_entropy"] <= 1 for s in scored.samples)
    assert "expert load entropy" in summary_markdown([scored], cfg)

    store_beside(scored, cfg)
    stored = json.loads((res.path / "extras" / "expert_coverage.json").read_text())
    assert stored["entropy_mean"] == cov["entropy_mean"] and stored["model"] == "tiny-moe"
    assert "## Expert coverage" in (res.path / "README.md").read_text()
    shown = show_set(res.path)
    assert shown["expert_coverage"]["experts_under_min"] == cov["experts_under_min"]
    assert "experts      entropy" in format_show(shown)


def test_validate_report_puts_coverage_beside_retention():
    import polars as pl

    from curate.validate.report import _coverage_table

    summary = pl.DataFrame({"set": ["a", "b"], "dimension": ["Total", "Total"], "mean": [0.8, 0.7], "std": [0.01, 0.02]})
    cov = {"a": {"entropy_mean": 0.91, "entropy_min": 0.8, "experts_under_min": 3, "experts": 240, "min_tokens": 11,
                 "model": "m"}}
    text = "\n".join(_coverage_table(summary, ["a", "b"], cov))
    assert "| a | 0.910 | 0.800 | 3/240 | 11 |" in text and "| b | - | - | - | - |" in text and "not scored" in text
