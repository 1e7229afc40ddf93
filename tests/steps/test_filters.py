import pytest

from curate.records import Sample
from curate.steps.filters import (
    DedupFilter,
    DedupSpec,
    LengthFilter,
    LengthFilterSpec,
    PerplexityFilter,
    PerplexityFilterSpec,
    QualityFilter,
    QualityFilterSpec,
)
from curate.steps.select import SelectSpec
from curate.steps.select import SelectStep as Select


def S(text, **scores):
    return Sample(text=text, source="s", doc_id=text[:10], input_ids=[1, 2, 3], scores=dict(scores))


def test_perplexity_filter_drops_highest(tiny_ctx):
    samples = [S(f"t{i}", ppl=float(p)) for i, p in enumerate([3, 30, 4, 5, 50, 6, 7, 8, 9, 10])]
    f = PerplexityFilter(PerplexityFilterSpec(type="perplexity_filter", drop_top=0.2))
    out = f(samples, tiny_ctx)
    assert [s.scores["ppl"] for s in out] == [3, 4, 5, 6, 7, 8, 9, 10]
    assert f.stats.reasons == {"ppl_top_20pct": 2} and f.stats.extra["ppl_threshold"] == 30


def test_perplexity_filter_computes_missing_ppl(tiny_ctx):
    import random

    rng = random.Random(0)
    samples = [Sample(text="x", source="s", doc_id=str(i), input_ids=[rng.randrange(3, 250) for _ in range(16)])
               for i in range(5)]
    out = PerplexityFilter(PerplexityFilterSpec(type="perplexity_filter", drop_top=0.2))(samples, tiny_ctx)
    assert len(out) == 4 and all(s.scores["ppl"] > 1 for s in samples)
    assert max(s.scores["ppl"] for s in samples) not in [s.scores["ppl"] for s in out]


def test_length_filter_reasons(tiny_ctx):
    f = LengthFilter(LengthFilterSpec(type="length_filter", min_chars=5, min_words=2, max_chars=30))
    out = f([S("hi"), S("hello"), S("hello world"), S("x" * 40)], tiny_ctx)
    assert [s.text for s in out] == ["hello world"]
    assert f.stats.reasons == {"too_few_chars": 1, "too_few_words": 1, "too_many_chars": 1}


def test_dedup_drops_near_duplicates_only(tiny_ctx):
    base = "the cat sat on the mat and looked at the dog who was sleeping by the warm fire place tonight"
    near = base.replace("tonight", "today")
    other = "completely different text about quantum chromodynamics and the strong nuclear force in hadrons"
    f = DedupFilter(DedupSpec(type="dedup", threshold=0.7))
    out = f([S(base), S(near), S(other)], tiny_ctx)
    assert [s.text for s in out] == [base, other] and f.stats.reasons == {"near_duplicate": 1}


def test_quality_filter_uses_datatrove_and_counts_reasons(tiny_ctx):
    pytest.importorskip("spacy", reason="datatrove's English word tokenizer needs the optional extra curate-calib[filters]")
    from curate.sources import iter_source

    good = max((d.text for d in list(iter_source("wikipedia", "all"))[:50]), key=len)
    bad = "buy now " * 60
    f = QualityFilter(QualityFilterSpec(type="quality_filter", filters=["gopher_repetition"]))
    out = f([S(good), S(bad)], tiny_ctx)
    assert [s.text for s in out] == [good]
    assert sum(f.stats.reasons.values()) == 1 and next(iter(f.stats.reasons)).startswith("gopher_repetition:")


def test_select_highest_lowest_random(tiny_ctx):
    samples = [S(f"t{i}", m=float(v)) for i, v in enumerate([0.1, 0.9, 0.5, 0.7, 0.3])]
    hi = Select(SelectSpec(type="select", by="m", order="highest", n=2))(samples, tiny_ctx)
    lo = Select(SelectSpec(type="select", by="m", order="lowest", fraction=0.4))(samples, tiny_ctx)
    assert [s.scores["m"] for s in hi] == [0.9, 0.7] and [s.scores["m"] for s in lo] == [0.1, 0.3]
    r1 = Select(SelectSpec(type="select", order="random", n=3), seed=1)(samples, tiny_ctx)
    r2 = Select(SelectSpec(type="select", order="random", n=3), seed=1)(samples, tiny_ctx)
    assert [s.text for s in r1] == [s.text for s in r2] and len(r1) == 3
    from curate.errors import RecipeError

    with pytest.raises(RecipeError, match="no such score"):
        Select(SelectSpec(type="select", by="nope", n=1))(samples, tiny_ctx)


def _near_threshold_texts(seed: int = 0) -> list[str]:
    """20 random 80-word texts, each with 5 variants of 1-4 substituted words: the variants'
    3-gram Jaccard with their base and each other spreads around 0.8."""
    import random

    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(3000)]
    texts = []
    for _ in range(20):
        base = [rng.choice(vocab) for _ in range(80)]
        texts.append(" ".join(base))
        for _ in range(5):
            t = list(base)
            for _ in range(rng.randint(1, 4)):
                t[rng.randrange(80)] = rng.choice(vocab)
            texts.append(" ".join(t))
    return texts


@pytest.mark.parametrize("threshold", [0.7, 0.8, 0.9])
def test_deduplicated_set_reports_no_near_duplicates_at_the_same_threshold(threshold):
    from curate.steps.score import build_scorer

    samples = [Sample(text=t, source="s", doc_id=str(i)) for i, t in enumerate(_near_threshold_texts())]
    before = build_scorer("diversity", dedup_threshold=threshold)
    before(list(samples), None)
    assert before.stats.extra["diversity"]["near_dup_pairs"] > 10  # the texts really are near the threshold
    f = DedupFilter(DedupSpec(type="dedup", threshold=threshold))
    kept = f(samples, None)
    after = build_scorer("diversity", dedup_threshold=threshold)
    after(kept, None)
    assert after.stats.extra["diversity"]["near_dup_pairs"] == 0
    # and nothing was dropped that had no near-duplicate: every dropped sample had one before
    dropped = {s.doc_id for s in samples} - {s.doc_id for s in kept}
    assert all(s.scores["near_dups"] >= 1 for s in samples if s.doc_id in dropped)
