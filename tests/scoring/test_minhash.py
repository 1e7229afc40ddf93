"""Vectorised MinHash: bit-identical to datasketch, estimates within MinHash error, cached index."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from datasketch import MinHash

from curate.errors import CurateError
from curate.scoring import minhash as M
from curate.scoring.functional import jaccard, ngrams, words


def _grams(text: str, n: int = 3) -> set:
    w = words(text)
    return set(ngrams(w, n)) or ({tuple(w)} if w else set())


def _doc(vocab: list[str], rng: random.Random, length: int) -> str:
    return " ".join(rng.choice(vocab) for _ in range(length))


def test_signatures_identical_to_datasketch_update_batch():
    rng = random.Random(0)
    vocab = [f"w{i}" for i in range(50)]
    texts = [_doc(vocab, rng, rng.randint(0, 40)) for _ in range(30)] + ["two words", "", "Same same SAME"]
    hasher = M.MinHasher(n=3, num_perm=64, seed=7)
    sigs = hasher.signatures(texts, batch_docs=7)  # several batches, reused word cache
    for t, s in zip(texts, sigs, strict=True):
        ref = MinHash(num_perm=64, seed=7, hashfunc=M.ngram_hash32)
        ref.update_batch(_grams(t))
        assert np.array_equal(ref.digest(), s)
    # Rows are valid datasketch sketches.
    assert hasher.lean(sigs[0]).jaccard(hasher.lean(sigs[0])) == 1.0


def test_chunking_does_not_change_signatures():
    rng = random.Random(1)
    texts = [_doc([f"v{i}" for i in range(300)], rng, 200) for _ in range(20)]
    big = M.MinHasher(num_perm=32).signatures(texts)
    small = M.MinHasher(num_perm=32, chunk_elements=32 * 150).signatures(texts)  # < one doc per chunk
    assert np.array_equal(big, small)


@pytest.mark.parametrize("target", [0.1, 0.3, 0.5, 0.8])
def test_estimate_within_minhash_error(target):
    # Two documents of distinct words share a planned fraction of their 3-grams.
    P = 256
    shared = [f"s{i}" for i in range(int(600 * target))]
    a = " ".join(shared + [f"a{i}" for i in range(600 - len(shared))])
    b = " ".join(shared + [f"b{i}" for i in range(600 - len(shared))])
    exact = jaccard(_grams(a), _grams(b))
    sig = M.MinHasher(num_perm=P, seed=3).signatures([a, b])
    est = float(M.estimate_jaccard(sig[:1], sig[1:])[0, 0])
    sd = math.sqrt(exact * (1 - exact) / P)  # binomial standard error of the estimator
    assert abs(est - exact) <= 4 * sd + 1e-9, (est, exact, sd)


def test_reference_index_datatrove_pipeline_and_cache(tmp_path, monkeypatch):
    rng = random.Random(2)
    vocab = [f"r{i}" for i in range(80)]
    ref_texts = [_doc(vocab, rng, 60) for _ in range(40)]
    hasher = M.MinHasher(num_perm=128)
    idx = M.ReferenceIndex.build(ref_texts, hasher, cache_root=tmp_path)
    assert len(idx) == 40 and idx.doc_ids == [str(i) for i in range(40)]
    assert np.array_equal(idx.signatures, hasher.signatures(ref_texts))

    # Queries: a near copy of ref doc 5, and an unrelated text.
    q = [ref_texts[5] + " extra words here", "completely different content goes here now"]
    best, arg = idx.best_match(hasher.signatures(q), chunk=7)
    brute = M.estimate_jaccard(hasher.signatures(q), idx.signatures)
    assert np.allclose(best, brute.max(1)) and arg[0] == 5 and best[1] == 0.0
    lbest, larg = idx.lsh_best_match(hasher.signatures(q), threshold=0.5)
    assert larg[0] == 5 and lbest[0] == pytest.approx(best[0]) and larg[1] == -1

    # Exact set-level Jaccard of n-gram sets (Ji et al. Sec. 3.4) from the stored hashes.
    sim = idx.set_similarity(q)
    g_set = set().union(*(_grams(t) for t in q))
    g_ref = set().union(*(_grams(t) for t in ref_texts))
    assert sim["jaccard"] == pytest.approx(jaccard(g_set, g_ref))
    assert sim["containment"] == pytest.approx(len(g_set & g_ref) / len(g_set))

    # Second build hits the cache: the pipeline must not run again.
    def boom(*a, **k):
        raise AssertionError("pipeline ran although the signatures are cached")

    monkeypatch.setattr(M, "make_executor", boom)
    again = M.ReferenceIndex.build(ref_texts, hasher, cache_root=tmp_path)
    assert np.array_equal(again.signatures, idx.signatures) and again.path == idx.path
    with pytest.raises(AssertionError):  # other parameters -> other key -> rebuild
        M.ReferenceIndex.build(ref_texts, M.MinHasher(num_perm=64), cache_root=tmp_path)


def test_reference_from_parquet_folder(tmp_path):
    import polars as pl

    folder = tmp_path / "corpus"
    folder.mkdir()
    texts = ["alpha beta gamma delta", "delta epsilon zeta eta theta"]
    pl.DataFrame({"text": texts, "id": ["d0", "d1"]}).write_parquet(folder / "part.parquet")
    idx = M.ReferenceIndex.build(str(folder), M.MinHasher(num_perm=32), cache_root=tmp_path / "cache")
    assert sorted(idx.doc_ids) == ["d0", "d1"]
    order = [idx.doc_ids.index("d0"), idx.doc_ids.index("d1")]
    assert np.array_equal(idx.signatures[order], M.MinHasher(num_perm=32).signatures(texts))


def test_near_duplicates_found():
    base = " ".join(f"t{i}" for i in range(100))
    texts = [base, base + " tail", " ".join(f"u{i}" for i in range(100)), base.replace("t50", "x")]
    h = M.MinHasher(num_perm=128)
    d = M.near_duplicates(h.signatures(texts), h, threshold=0.8)
    assert d[0] == [1, 3] and d[2] == []


def test_dedup_keep_is_greedy_in_order_and_leaves_no_pair():
    base = " ".join(f"t{i}" for i in range(100))
    texts = ["", base, "", base + " tail", " ".join(f"u{i}" for i in range(100)), base.replace("t50", "x")]
    h = M.MinHasher(num_perm=128)
    sigs = h.signatures(texts)
    keep = M.dedup_keep(sigs, h, threshold=0.8)
    assert keep == [0, 1, 2, 4]  # the first of each group stays; empty texts are never duplicates
    assert all(d == [] for d in M.near_duplicates(sigs[keep], h, threshold=0.8))


def test_executors_are_configured_not_guessed():
    from datatrove.executor import LocalPipelineExecutor, SlurmPipelineExecutor

    assert isinstance(M.make_executor([], "local"), LocalPipelineExecutor)
    slurm = M.make_executor([], "slurm", tasks=8, time="01:00:00", partition="cpu", cpus_per_task=4)
    assert isinstance(slurm, SlurmPipelineExecutor) and slurm.tasks == 8
    with pytest.raises(CurateError, match="partition"):
        M.make_executor([], "slurm", tasks=8, time="01:00:00")
    with pytest.raises(CurateError, match="unknown executor"):
        M.make_executor([], "spark")
