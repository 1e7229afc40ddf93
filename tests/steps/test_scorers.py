"""Scorer steps: registry, parameters, scores on samples, set summaries, selection."""

from __future__ import annotations

import math

import pytest
import torch

from curate.context import RunContext
from curate.errors import CurateError
from curate.records import Sample
from curate.scoring import compute_model_scores
from curate.steps.score import SCORERS, build_scorer


class CharTokenizer:
    """Hand-written fake: one id per character (no download)."""

    def __call__(self, texts, add_special_tokens=False):
        return {"input_ids": [[3 + (ord(c) % 120) for c in t] for t in texts]}


@pytest.fixture(scope="module")
def ctx(tiny_lm):
    return RunContext.from_objects(tiny_lm[0], CharTokenizer(), batch_size=2, progress=False)


def test_registry_has_the_promised_names():
    for name in ("perplexity", "min_k", "min_k_pp", "entropy", "minhash_jaccard", "ngram_aggregation", "diversity"):
        assert name in SCORERS
        assert build_scorer(name, **({"reference": ["a b c d"]} if name == "minhash_jaccard" else {})).kind == "scorer"


def test_unknown_names_and_params_fail_with_hints():
    with pytest.raises(CurateError, match="did you mean 'min_k_pp'"):
        build_scorer("min_k_p")
    with pytest.raises(CurateError, match="did you mean 'k'"):
        build_scorer("min_k_pp", kk=0.3)
    with pytest.raises(CurateError, match="needs a reference"):
        build_scorer("minhash_jaccard")


def test_min_k_pp_step_scores_ids_and_text_and_selects(ctx):
    g = torch.Generator().manual_seed(0)
    with_ids = [Sample(text="", source="s", doc_id=str(i), input_ids=torch.randint(3, 128, (20,), generator=g).tolist())
                for i in range(4)]
    text_only = [Sample(text="hello world, this is text " * (i + 1), source="t", doc_id=f"t{i}") for i in range(2)]
    samples = with_ids + text_only
    step = build_scorer("min_k_pp", k=0.5, keep="highest", fraction=0.5)
    kept = step(samples, ctx)
    # Scores equal the library function on the same ids (text tokenized with ctx.tokenizer).
    ids = [s.input_ids for s in with_ids] + CharTokenizer()([s.text for s in text_only])["input_ids"]
    ref = compute_model_scores(ctx.model, ids, scores=("min_k_pp",), k=0.5, progress=False)["min_k_pp"]
    assert [s.scores["min_k_pp"] for s in samples] == pytest.approx(ref.tolist(), rel=1e-5)  # fp32, other batching
    # keep=highest, fraction=0.5: the top 3 of 6 survive, the rest are counted with a reason.
    top = sorted(ref.tolist(), reverse=True)[:3]
    assert sorted(s.scores["min_k_pp"] for s in kept) == pytest.approx(sorted(top))
    assert step.stats.to_dict()["reasons"] == {"min_k_pp_lowest_50pct": 3}
    assert step.stats.kept == 3 and step.stats.seen == 6
    assert step.stats.extra["summary"]["min_k_pp"]["n"] == 6 and step.stats.extra["k"] == 0.5


def test_model_scores_step_is_one_pass_for_all_scores(ctx):
    calls = []
    h = ctx.model.model.register_forward_hook(lambda *a: calls.append(1))
    try:
        samples = [Sample(text="", source="s", doc_id=str(i), input_ids=list(range(3, 19))) for i in range(4)]
        build_scorer("model_scores", batch_size=4)(samples, ctx)
    finally:
        h.remove()
    assert len(calls) == 1
    assert set(samples[0].scores) == {"ppl", "min_k", "min_k_pp", "entropy"}


def test_threshold_filtering_drops_with_reason(ctx):
    samples = [Sample(text="", source="s", doc_id=str(i), input_ids=list(range(3, 3 + n))) for i, n in enumerate((2, 10, 30))]
    ppl = compute_model_scores(ctx.model, [s.input_ids for s in samples], scores=("ppl",), progress=False)["ppl"]
    cut = float(sorted(ppl.tolist())[1])
    step = build_scorer("perplexity", max=cut)
    kept = step(samples, ctx)
    assert len(kept) == 2 and step.stats.dropped == 1
    assert list(step.stats.reasons) == [f"ppl_above_{cut:g}"]


def test_ngram_aggregation_step_matches_functional():
    texts = ["a b c d e", "A b c d x", "p q r s p q r s"]
    samples = [Sample(text=t, source="s", doc_id=str(i)) for i, t in enumerate(texts)]
    step = build_scorer("ngram_aggregation", n=4, top_k=1)
    step(samples, None)
    assert [s.scores["ngram_repeat_contrib"] for s in samples] == pytest.approx([1 / 9, 1 / 9, 0])
    assert step.stats.extra["aggregation"]["repeat_share"] == pytest.approx(2 / 9)


def test_diversity_step_counts_near_duplicates():
    base = " ".join(f"w{i}" for i in range(80))
    texts = [base, base + " end", " ".join(f"v{i % 7}" for i in range(80))]
    samples = [Sample(text=t, source="s", doc_id=str(i)) for i, t in enumerate(texts)]
    step = build_scorer("diversity")
    step(samples, None)
    assert [s.scores["near_dups"] for s in samples] == [1, 1, 0]
    assert samples[0].scores["distinct_1"] == 1.0 and samples[2].scores["distinct_1"] == pytest.approx(7 / 80)
    d = step.stats.extra["diversity"]
    assert d["near_dup_pairs"] == 1 and d["near_dup_clusters"] == 1 and d["near_dup_redundant"] == 1
    assert not math.isnan(d["zipf_exponent"])


def test_minhash_jaccard_step_with_text_reference(tmp_path, monkeypatch):
    monkeypatch.setenv("CURATE_CACHE", str(tmp_path))
    ref = [" ".join(f"r{i}" for i in range(j, j + 50)) for j in range(0, 500, 50)]
    samples = [Sample(text=ref[3], source="s", doc_id="copy"),
               Sample(text="nothing in common with the reference at all", source="s", doc_id="other")]
    step = build_scorer("minhash_jaccard", reference=ref, num_perm=64)
    step(samples, None)
    assert samples[0].scores["minhash_jaccard"] == 1.0 and samples[1].scores["minhash_jaccard"] == 0.0
    r = step.stats.extra["reference"]
    assert r["containment"] == pytest.approx(48 / (48 + 6))  # 48 of the set's 54 3-grams are in the reference
    assert (tmp_path / "minhash").is_dir()  # cached on disk under CURATE_CACHE
