"""The one selection rule: rounding, ties by position, NaN dropped and counted -- for every caller."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from curate.records import Sample
from curate.steps.filters import PerplexityFilter, PerplexityFilterSpec
from curate.steps.scorers import Scorer
from curate.steps.select import SelectSpec, drop_count, keep_count, rank_select, select_best
from curate.steps.select import SelectStep as Select

NAN = float("nan")


@pytest.mark.parametrize("n", [0, 1, 2, 3, 7, 9, 10, 11, 99, 1000, 12345])
@pytest.mark.parametrize("f", ["0.1", "0.2", "0.25", "0.3", "1/3", "0.5", "0.7", "0.9", "0.95", "1"])
def test_rounding_keep_ceil_drop_floor_and_complementary(n, f):
    exact = Fraction(f)
    assert drop_count(n, float(exact)) == math.floor(exact * n)
    assert keep_count(n, float(exact)) == math.ceil(exact * n)
    # keeping f is dropping 1 - f: one rule, not two
    assert keep_count(n, float(exact)) + drop_count(n, 1 - float(exact)) == n


def test_ji_et_al_drop_top_20_percent():
    assert [drop_count(n, 0.2) for n in (4, 5, 9, 10, 60)] == [0, 1, 1, 2, 12]


def test_ties_keep_the_earlier_sample_at_either_end():
    vals = [1.0, 1.0, 1.0, 1.0, 1.0]
    assert rank_select(vals, drop_high=2).kept == [0, 1, 2]
    assert rank_select(vals, drop_low=2).kept == [0, 1, 2]
    assert select_best(vals, 2, "highest").kept == [0, 1]
    assert select_best(vals, 2, "lowest").kept == [0, 1]


def test_nan_and_none_never_ranked():
    vals = [3.0, NAN, 9.0, None, 1.0, 5.0]
    sel = rank_select(vals, drop_high=1, drop_low=1)
    assert sel.nan == [1, 3] and sel.high == [2] and sel.low == [4] and sel.kept == [0, 5]
    assert select_best(vals, 10, "highest").kept == [0, 2, 4, 5]  # n beyond the real values
    assert select_best([NAN, NAN], 1, "lowest").kept == []


def test_infinities_rank_as_extremes():
    sel = select_best([1.0, math.inf, -math.inf, 2.0], 2, "highest")
    assert sel.kept == [1, 3] and sel.low == [0, 2]


class Preset(Scorer):
    """A scorer whose score ``m`` is whatever the sample already carries."""

    outputs = ("m",)

    def score(self, samples, ctx):
        return {"m": [s.scores["m"] for s in samples]}


def S(i, **scores):
    return Sample(text=f"t{i}", source="s", doc_id=str(i), input_ids=[1, 2, 3], scores=dict(scores))


VALUES = [5.0, NAN, 9.0, 3.0, 9.0, 1.0, 7.0, NAN, 2.0, 8.0]  # 8 real values, two ties at 9


def test_every_caller_uses_the_rule(tiny_ctx):
    """Select step, perplexity filter and a scorer's keep agree on the same values."""
    sel = Select(SelectSpec(type="select", by="m", order="highest", fraction=0.5))
    out_sel = sel([S(i, m=v) for i, v in enumerate(VALUES)], tiny_ctx)
    # ceil(0.5 * 8) = 4 of the 8 real values; of the tied 9s, both are in the top 4
    assert [s.doc_id for s in out_sel] == ["2", "4", "6", "9"]
    assert sel.stats.reasons == {"nan_score": 2, "not_in_highest_4": 4}

    ppl = PerplexityFilter(PerplexityFilterSpec(type="perplexity_filter", drop_top=0.3, drop_bottom=0.1))
    out_ppl = ppl([S(i, ppl=v) for i, v in enumerate(VALUES)], tiny_ctx)
    # floor(0.3 * 8) = 2 highest (the two 9s), floor(0.1 * 8) = 0 lowest, 2 NaN
    assert [s.doc_id for s in out_ppl] == ["0", "3", "5", "6", "8", "9"]
    assert ppl.stats.reasons == {"nan_score": 2, "ppl_top_30pct": 2}

    scorer = Preset(keep="highest", fraction=0.5)
    samples = [S(i, m=v) for i, v in enumerate(VALUES)]
    out_sc = scorer(samples, tiny_ctx)
    assert [s.doc_id for s in out_sc] == ["2", "4", "6", "9"]
    assert scorer.stats.reasons == {"nan_score": 2, "m_lowest_50pct": 4}


def test_select_random_is_seeded_and_counts(tiny_ctx):
    samples = [S(i) for i in range(10)]
    a = Select(SelectSpec(type="select", order="random", fraction=0.25), seed=3)(samples, tiny_ctx)
    b = Select(SelectSpec(type="select", order="random", fraction=0.25), seed=3)(samples, tiny_ctx)
    assert [s.doc_id for s in a] == [s.doc_id for s in b] and len(a) == 3  # ceil(2.5)
