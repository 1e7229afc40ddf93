"""MinHash signatures of word n-grams, vectorised, datasketch-compatible; reference indexes.

    from curate.scoring.minhash import MinHasher, ReferenceIndex
    mh = MinHasher(n=3, num_perm=128)
    sigs = mh.signatures(["the cat sat on the mat", "a dog sat on the mat"])   # (2, 128) uint32
    ref = ReferenceIndex.build(["the cat sat on the mat today"], hasher=mh)  # datatrove pipeline
    best, idx = ref.best_match(sigs)                                         # (2,) Jaccard estimates

Signatures follow datasketch 2.0's ``affine32`` scheme exactly -- the same permutations
``(a, b)`` drawn from ``MinHash(num_perm, seed).permutations``, the same MurmurHash3 pre-mix,
``min(a * h + b mod 2^32)`` -- with the n-gram hash :func:`ngram_hash32` as ``hashfunc``. So
``MinHash(num_perm, seed, hashfunc=ngram_hash32).update_batch(grams)`` gives the identical digest
(a test checks it), every row converts to a :class:`datasketch.LeanMinHash`, and
:class:`datasketch.MinHashLSH` indexes them. What differs is speed: words are hashed once
(xxh64, cached per batch), n-gram hashes are rolled with numpy over a whole batch of documents,
and the (G, P) permutation + per-document ``minimum.reduceat`` run as a few array operations
instead of one datasketch call per n-gram.

Reference corpora run through a datatrove pipeline (reader -> :class:`MinHashSignatureStep`
-> ``ParquetWriter``) on datatrove's Local (default), Slurm or Ray executor; signatures are
cached under ``<curate cache>/minhash/<key>/`` keyed by corpus and parameters.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import xxhash

from curate.errors import CurateError
from curate.scoring.functional import words

_M64 = (1 << 64) - 1
_M32 = (1 << 32) - 1
_ROLL = 0x9E3779B97F4A7C15  # odd 64-bit multiplier (golden ratio) that rolls word hashes into n-gram hashes
_EMPTY = np.uint32(_M32)  # datasketch's affine32 "no element seen" value
HASH_SCHEME = "xxh64-roll-fmix64-fold32/affine32/v1"  # part of every cache key


# --------------------------------------------------------------------------------------------
# hashing: scalar reference and vectorised path (must agree bit for bit)
# --------------------------------------------------------------------------------------------


def _word_hash(word: str) -> int:
    return xxhash.xxh64_intdigest(word.encode("utf-8"))


def _fmix64_int(h: int) -> int:
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & _M64
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & _M64
    return h ^ (h >> 33)


def ngram_hash64(gram: Sequence[str]) -> int:
    """64-bit hash of a word n-gram (scalar reference of the vectorised path)."""
    g = 0
    for w in gram:
        g = (g * _ROLL + _word_hash(w)) & _M64
    return _fmix64_int(g)


def ngram_hash32(gram: Sequence[str]) -> int:
    """32-bit n-gram hash: usable as datasketch ``MinHash(hashfunc=...)`` for the affine32 scheme."""
    h = ngram_hash64(gram)
    return (h ^ (h >> 32)) & _M32


def _fmix64(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> np.uint64(33))


def _fmix32(h: np.ndarray) -> np.ndarray:
    # Identical to datasketch.minhash._fmix(h, 32): the affine32 pre-mix.
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def doc_ngram_hashes(token_lists: Sequence[Sequence[str]], n: int,
                     cache: dict[str, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """64-bit hashes of every word n-gram of every document, computed in one numpy pass.

    Returns ``(hashes (G,) uint64, offsets (D+1,) int64)``: document d owns
    ``hashes[offsets[d]:offsets[d+1]]``. A document with 1..n-1 words contributes one n-gram of
    all its words (so short texts still have a signature); an empty one contributes none.
    """
    cache = {} if cache is None else cache
    lens = np.fromiter((len(t) for t in token_lists), dtype=np.int64, count=len(token_lists))
    flat = [w for toks in token_lists for w in toks]
    wh = np.fromiter((cache[w] if w in cache else cache.setdefault(w, _word_hash(w)) for w in flat),
                     dtype=np.uint64, count=len(flat))  # (W,)
    starts = np.concatenate([[0], np.cumsum(lens)])  # (D+1,) word offsets
    W = wh.size
    if W >= n:
        # Roll n word hashes into one: g_i = ((w_i * R + w_{i+1}) * R + ...) mod 2^64.
        g = wh[: W - n + 1].copy()
        for j in range(1, n):
            g = g * np.uint64(_ROLL) + wh[j: W - n + 1 + j]
        g = _fmix64(g)  # (W-n+1,)
        # Keep windows that stay inside one document: start position i with i + n <= doc end.
        doc_of = np.repeat(np.arange(lens.size), lens)[: W - n + 1]
        keep = np.arange(W - n + 1) + n <= starts[1:][doc_of]
        g, doc_of = g[keep], doc_of[keep]
    else:
        g, doc_of = np.zeros(0, np.uint64), np.zeros(0, np.int64)
    counts = np.bincount(doc_of, minlength=lens.size).astype(np.int64)
    short = np.nonzero((lens > 0) & (lens < n))[0]
    if short.size:  # rare: whole-document "n-gram" for texts shorter than n words
        extra = np.array([ngram_hash64(token_lists[d]) for d in short], dtype=np.uint64)
        g = np.concatenate([g, extra])
        doc_of = np.concatenate([doc_of, short])
        counts[short] += 1
        order = np.argsort(doc_of, kind="stable")
        g = g[order]
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return g, offsets


def fold32(h64: np.ndarray) -> np.ndarray:
    """64 -> 32-bit fold (same as :func:`ngram_hash32`)."""
    return ((h64 ^ (h64 >> np.uint64(32))) & np.uint64(_M32)).astype(np.uint32)


@dataclass(frozen=True)
class MinHasher:
    """Word n-gram MinHash with datasketch's affine32 permutations (see module docstring)."""

    n: int = 3
    num_perm: int = 128
    seed: int = 1
    # G * P uint32 values per permutation chunk: ~4 MB stays in cache; 32 MB chunks ran 4x slower.
    chunk_elements: int = 2**20
    _perm: Any = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.n < 1 or self.num_perm < 1:
            raise CurateError(f"MinHash needs n >= 1 and num_perm >= 1, got n={self.n}, num_perm={self.num_perm}")
        from datasketch import MinHash

        a, b = MinHash(num_perm=self.num_perm, seed=self.seed, scheme="affine32").permutations
        object.__setattr__(self, "_perm", (a.astype(np.uint32), b.astype(np.uint32)))

    @property
    def params(self) -> dict[str, Any]:
        return {"n": self.n, "num_perm": self.num_perm, "seed": self.seed, "scheme": HASH_SCHEME}

    def signatures_from_hashes(self, h64: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """(D, P) uint32 signatures from per-document n-gram hashes (see doc_ngram_hashes)."""
        a, b = self._perm  # (P,), (P,)
        D = offsets.size - 1
        sig = np.full((D, self.num_perm), _EMPTY, dtype=np.uint32)
        counts = np.diff(offsets)
        nonempty = np.nonzero(counts > 0)[0]
        hv = _fmix32(fold32(h64))  # (G,) datasketch affine32 pre-mix
        # Process whole documents per chunk so reduceat segments never straddle a chunk.
        rows_per_chunk = max(1, self.chunk_elements // self.num_perm)
        i = 0
        while i < nonempty.size:
            j = i
            start = offsets[nonempty[i]]
            while j < nonempty.size and offsets[nonempty[j] + 1] - start <= rows_per_chunk:
                j += 1
            j = max(j, i + 1)  # a single huge document gets a chunk of its own
            docs = nonempty[i:j]
            lo, hi = offsets[docs[0]], offsets[docs[-1] + 1]
            # (P, g) layout: reduceat over the contiguous last axis is ~4x faster than over axis 0.
            phv = a[:, None] * hv[None, lo:hi] + b[:, None]  # (P, g) uint32, wraps mod 2^32
            seg = offsets[docs] - lo  # segment starts inside the chunk
            sig[docs] = np.minimum.reduceat(phv, seg, axis=1).T  # (d, P)
            i = j
        return sig

    def signatures(self, texts: Iterable[str], batch_docs: int = 4096) -> np.ndarray:
        """(N, P) uint32 signatures of texts (word n-grams, lower-cased ``\\w+`` words)."""
        out, batch, cache = [], [], {}
        for t in texts:
            batch.append(words(t))
            if len(batch) == batch_docs:
                out.append(self.signatures_from_hashes(*doc_ngram_hashes(batch, self.n, cache)))
                batch = []
                if len(cache) > 2_000_000:  # bound memory on huge corpora
                    cache.clear()
        if batch or not out:
            out.append(self.signatures_from_hashes(*doc_ngram_hashes(batch, self.n, cache)))
        return np.concatenate(out, axis=0)

    def lean(self, sig: np.ndarray):
        """A datasketch LeanMinHash holding one signature row (for MinHashLSH)."""
        from datasketch import LeanMinHash

        return LeanMinHash(seed=self.seed, hashvalues=sig, scheme="affine32")


def estimate_jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> np.ndarray:
    """Pairwise MinHash Jaccard estimates, (N, P) x (M, P) -> (N, M) share of equal slots."""
    return (sig_a[:, None, :] == sig_b[None, :, :]).mean(-1)


def union_signature(sigs: np.ndarray) -> np.ndarray:
    """Signature of the union of all documents' n-gram sets: elementwise min, (P,)."""
    return sigs.min(axis=0) if sigs.size else np.full(sigs.shape[-1], _EMPTY, dtype=np.uint32)


# --------------------------------------------------------------------------------------------
# datatrove pipeline: reader -> signature step -> writer
# --------------------------------------------------------------------------------------------

try:  # datatrove is a core dependency, but keep this module importable for pure-hash users
    from datatrove.data import Document
    from datatrove.pipeline.base import PipelineStep
except ImportError:  # pragma: no cover
    PipelineStep = object  # type: ignore[misc,assignment]
    Document = None  # type: ignore[assignment]


class TextsReader(PipelineStep):
    """datatrove reader over an in-process corpus: a bundled curate source or a list of texts.

    Shards by document index (``i % world_size == rank``) like datatrove's file readers shard by
    file, so the same pipeline runs on Local, Slurm or Ray executors.
    """

    name = "📖 curate texts"
    type = "📖 - READER"

    def __init__(self, source: str | None = None, split: str = "all", texts: Sequence[str] | None = None,
                 ids: Sequence[str] | None = None):
        super().__init__()
        self.source, self.split, self.texts, self.ids = source, split, texts, ids

    def _docs(self) -> Iterator[tuple[str, str]]:
        if self.source is not None:
            from curate.sources import iter_source

            for s in iter_source(self.source, split=self.split):
                yield s.doc_id, s.text
        else:
            ids = self.ids or [str(i) for i in range(len(self.texts or []))]
            yield from zip(ids, self.texts or [], strict=True)

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        if data:
            yield from data
        for i, (doc_id, text) in enumerate(self._docs()):
            if i % world_size == rank:
                self.stat_update("documents")
                yield Document(text=text, id=str(doc_id))


class MinHashSignatureStep(PipelineStep):
    """Adds ``metadata["minhash"]`` (P uint32) to each document; optionally saves its n-gram hashes.

    Works on batches of documents so the vectorised hasher is fed thousands of texts at once.
    With ``ngram_folder`` set, each rank also writes the sorted unique 64-bit n-gram hashes it
    saw (``ngrams-<rank>.npy``): what the exact set-level Jaccard of Ji et al. needs.
    """

    name = "🔏 MinHash signature"
    type = "🫂 - DEDUPS"

    def __init__(self, n: int = 3, num_perm: int = 128, seed: int = 1, batch_docs: int = 2048,
                 ngram_folder: str | None = None):
        super().__init__()
        self.n, self.num_perm, self.seed, self.batch_docs = n, num_perm, seed, batch_docs
        self.ngram_folder = ngram_folder

    def run(self, data, rank: int = 0, world_size: int = 1):
        hasher = MinHasher(self.n, self.num_perm, self.seed)
        cache: dict[str, int] = {}
        grams: list[np.ndarray] = []
        batch: list = []

        def flush():
            with self.track_time(unit="batch"):
                h64, offsets = doc_ngram_hashes([words(d.text) for d in batch], self.n, cache)
                sigs = hasher.signatures_from_hashes(h64, offsets)
            if self.ngram_folder is not None:
                grams.append(np.unique(h64))
            for d, s in zip(batch, sigs, strict=True):
                d.metadata["minhash"] = s.tolist()
                yield d

        for doc in data:
            batch.append(doc)
            if len(batch) >= self.batch_docs:
                yield from flush()
                batch = []
                if len(cache) > 2_000_000:
                    cache.clear()
        if batch:
            yield from flush()
        if self.ngram_folder is not None:
            arr = np.unique(np.concatenate(grams)) if grams else np.zeros(0, np.uint64)
            Path(self.ngram_folder).mkdir(parents=True, exist_ok=True)
            np.save(Path(self.ngram_folder) / f"ngrams-{rank:05d}.npy", arr)


def _signature_adapter(self, document) -> dict:  # bound to the writer by datatrove
    return {"id": document.id, "minhash": document.metadata["minhash"]}


Executor = Literal["local", "slurm", "ray"]


def make_executor(pipeline: list, executor: Executor = "local", logging_dir: str | None = None,
                  **options: Any):
    """A datatrove executor running ``pipeline``; ``options`` go to its constructor.

    ``local``: LocalPipelineExecutor (``tasks``, ``workers``; defaults 1/1, in-process).
    ``slurm``: SlurmPipelineExecutor (needs at least ``tasks``, ``time``, ``partition``;
    e.g. ``cpus_per_task``, ``mem_per_cpu_gb``, ``venv_path``, ``sbatch_args``).
    ``ray``: RayPipelineExecutor (``tasks``, ``workers``, ``cpus_per_task``; connects to the
    cluster of ``ray.init()``).
    """
    if executor == "local":
        from datatrove.executor import LocalPipelineExecutor

        options.setdefault("tasks", 1)
        options.setdefault("workers", 1)
        return LocalPipelineExecutor(pipeline=pipeline, logging_dir=logging_dir, **options)
    if executor == "slurm":
        from datatrove.executor import SlurmPipelineExecutor

        missing = [k for k in ("tasks", "time", "partition") if k not in options]
        if missing:
            raise CurateError(f"the slurm executor needs {', '.join(missing)}",
                              hint="e.g. executor_options: {tasks: 64, time: '02:00:00', partition: cpu}")
        return SlurmPipelineExecutor(pipeline=pipeline, logging_dir=logging_dir,
                                     job_name=options.pop("job_name", "curate-minhash"), **options)
    if executor == "ray":
        from curate.errors import requires

        requires("ray", what="the ray executor")
        from datatrove.executor import RayPipelineExecutor

        return RayPipelineExecutor(pipeline=pipeline, logging_dir=logging_dir, **options)
    raise CurateError(f"unknown executor {executor!r}", hint="choose local, slurm or ray")


# --------------------------------------------------------------------------------------------
# reference index (cached on disk)
# --------------------------------------------------------------------------------------------


def _cache_root() -> Path:
    from curate.files import cache_dir

    return cache_dir() / "minhash"


def _corpus_fingerprint(reference: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(description for the cache key, reader spec). Materialises in-memory iterables."""
    if isinstance(reference, str):
        p = Path(reference).expanduser()
        if p.exists():
            files = sorted(f for f in ([p] if p.is_file() else p.rglob("*")) if f.is_file()
                           and f.suffix in {".jsonl", ".gz", ".zst", ".parquet", ".json"})
            if not files:
                raise CurateError(f"reference folder {p} has no .jsonl/.parquet files",
                                  hint="point --reference at jsonl(.gz) or parquet files with a 'text' field")
            desc = {"files": [(str(f.resolve()), f.stat().st_size, int(f.stat().st_mtime)) for f in files]}
            return desc, {"kind": "files", "path": str(p.resolve()),
                          "format": "parquet" if files[0].suffix == ".parquet" else "jsonl"}
        name, _, split = reference.partition(":")
        from curate.sources import SOURCES

        if name not in SOURCES:
            SOURCES.get(name)  # raises "unknown source ... did you mean"
        split = split or "all"
        # Bundled corpora are fixed per installed package; hash ids + lengths to stay honest.
        from curate.sources import iter_source

        h = hashlib.sha256()
        count = 0
        for s in iter_source(name, split=split):
            h.update(f"{s.doc_id}\x00{len(s.text)}\x01".encode())
            count += 1
        return ({"source": name, "split": split, "docs": count, "content": h.hexdigest()[:16]},
                {"kind": "source", "source": name, "split": split})
    texts, ids = [], []
    for i, item in enumerate(reference):
        if isinstance(item, str):
            texts.append(item)
            ids.append(str(i))
        else:  # a curate Sample (or anything with .text / .doc_id)
            texts.append(item.text)
            ids.append(str(getattr(item, "doc_id", i)))
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return {"texts": len(texts), "content": h.hexdigest()[:16]}, {"kind": "texts", "texts": texts, "ids": ids}


@dataclass
class ReferenceIndex:
    """MinHash signatures of a reference corpus, plus its n-gram set when it fits in memory."""

    signatures: np.ndarray  # (M, P) uint32
    doc_ids: list[str]
    hasher: MinHasher
    ngram_hashes: np.ndarray | None = None  # sorted unique uint64 n-gram hashes of the whole corpus
    description: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    _lsh: dict[float, Any] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return self.signatures.shape[0]

    @classmethod
    def build(cls, reference: Any, hasher: MinHasher | None = None, *, cache: bool = True,
              cache_root: str | Path | None = None, executor: Executor = "local",
              executor_options: dict[str, Any] | None = None, keep_ngrams: bool = True,
              progress: bool = False) -> ReferenceIndex:
        """Signatures of ``reference`` computed by a datatrove pipeline, cached by corpus + params.

        ``reference``: a bundled source name (``"wikipedia"`` or ``"wikipedia:heldout"``; all
        splits by default), a folder/file of jsonl(.gz) or parquet documents with a ``text``
        field, a list of texts, or an iterable of Samples.
        """
        hasher = hasher or MinHasher()
        desc, spec = _corpus_fingerprint(reference)
        key_payload = {"corpus": desc, "params": hasher.params, "ngrams": keep_ngrams}
        key = hashlib.sha256(json.dumps(key_payload, sort_keys=True).encode()).hexdigest()[:20]
        root = Path(cache_root) if cache_root else _cache_root()
        target = root / key
        if cache and (target / "DONE").exists():
            return cls.load(target, hasher)
        root.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=root))
        try:
            if spec["kind"] == "files":
                from datatrove.pipeline.readers import JsonlReader, ParquetReader

                if spec["format"] != "parquet":
                    from curate.errors import requires

                    requires("orjson", what="reading jsonl reference corpora with datatrove")
                reader_cls = ParquetReader if spec["format"] == "parquet" else JsonlReader
                reader = reader_cls(spec["path"], doc_progress=progress)
            elif spec["kind"] == "source":
                reader = TextsReader(source=spec["source"], split=spec["split"])
            else:
                reader = TextsReader(texts=spec["texts"], ids=spec["ids"])
            from datatrove.pipeline.writers import ParquetWriter

            pipeline = [
                reader,
                MinHashSignatureStep(hasher.n, hasher.num_perm, hasher.seed,
                                     ngram_folder=str(work / "ngrams") if keep_ngrams else None),
                ParquetWriter(str(work / "signatures"), output_filename="${rank}.parquet",
                              adapter=_signature_adapter, compression="zstd",
                              use_content_defined_chunking=False, write_page_index=False),
            ]
            make_executor(pipeline, executor, logging_dir=str(work / "logs"), **(executor_options or {})).run()
            (work / "index.json").write_text(json.dumps(key_payload, indent=2))
            (work / "DONE").touch()
            if not cache:
                return cls.load(work, hasher)
            if target.exists():  # another process finished first: keep theirs
                shutil.rmtree(work, ignore_errors=True)
            else:
                work.rename(target)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        return cls.load(target, hasher)

    @classmethod
    def load(cls, folder: Path, hasher: MinHasher | None = None) -> ReferenceIndex:
        import polars as pl

        meta = json.loads((folder / "index.json").read_text())
        p = meta["params"]
        hasher = hasher or MinHasher(p["n"], p["num_perm"], p["seed"])
        files = sorted((folder / "signatures").glob("*.parquet"))
        if files:
            df = pl.concat([pl.read_parquet(f) for f in files])
            sigs = np.asarray(df["minhash"].to_list(), dtype=np.uint32).reshape(len(df), hasher.num_perm)
            ids = df["id"].to_list()
        else:
            sigs, ids = np.zeros((0, hasher.num_perm), np.uint32), []
        ngrams = None
        gram_files = sorted((folder / "ngrams").glob("*.npy"))
        if gram_files:
            ngrams = np.unique(np.concatenate([np.load(f) for f in gram_files]))
        return cls(sigs, ids, hasher, ngrams, meta["corpus"], folder)

    # ---- queries -------------------------------------------------------------------------

    def best_match(self, sigs: np.ndarray, chunk: int = 2048) -> tuple[np.ndarray, np.ndarray]:
        """Per query signature, the best estimated Jaccard over ALL reference docs and its index.

        Exhaustive, vectorised: (N, c, P) comparisons per chunk of c reference rows.
        """
        N = sigs.shape[0]
        best = np.zeros(N, dtype=np.float64)
        arg = np.full(N, -1, dtype=np.int64)
        empty_q = (sigs == _EMPTY).all(1)
        for lo in range(0, len(self), chunk):
            est = estimate_jaccard(sigs, self.signatures[lo:lo + chunk])  # (N, c)
            j = est.argmax(1)
            val = est[np.arange(N), j]
            better = val > best
            best[better], arg[better] = val[better], lo + j[better]
        best[empty_q], arg[empty_q] = 0.0, -1
        return best, arg

    def lsh(self, threshold: float):
        """A datasketch MinHashLSH over the reference at ``threshold`` (built once, cached)."""
        if threshold not in self._lsh:
            from datasketch import MinHashLSH

            index = MinHashLSH(threshold=threshold, num_perm=self.hasher.num_perm)
            with index.insertion_session() as session:
                for i, s in enumerate(self.signatures):
                    session.insert(i, self.hasher.lean(s), check_duplication=False)
            self._lsh[threshold] = index
        return self._lsh[threshold]

    def lsh_best_match(self, sigs: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
        """Best estimated Jaccard among the LSH candidates (0 / -1 when none pass ``threshold``).

        Sub-linear in the reference size; what to use for corpora of millions of documents.
        """
        index = self.lsh(threshold)
        best = np.zeros(sigs.shape[0])
        arg = np.full(sigs.shape[0], -1, dtype=np.int64)
        for q, s in enumerate(sigs):
            cand = np.array(sorted(index.query(self.hasher.lean(s))), dtype=np.int64)
            if cand.size:
                est = (self.signatures[cand] == s[None]).mean(1)
                best[q], arg[q] = est.max(), cand[est.argmax()]
        return best, arg

    def set_similarity(self, texts: Sequence[str]) -> dict[str, float]:
        """Set-level similarity of ``texts`` to the reference (Ji et al. 2024, Sec. 3.4).

        ``jaccard``: |G_set ∩ G_ref| / |G_set ∪ G_ref| over the word n-gram sets, exact (64-bit
        hashes) when the reference n-gram set is stored; ``containment``: |G_set ∩ G_ref| /
        |G_set|; ``jaccard_minhash``: the MinHash estimate from the union signatures (always
        available, the only option when a reference n-gram set is too large to keep).
        """
        h64, _ = doc_ngram_hashes([words(t) for t in texts], self.hasher.n)
        mine = np.unique(h64)
        out: dict[str, float] = {"set_ngrams": float(mine.size)}
        q = self.hasher.signatures_from_hashes(mine, np.array([0, mine.size]))
        out["jaccard_minhash"] = float(estimate_jaccard(q, union_signature(self.signatures)[None])[0, 0])
        if self.ngram_hashes is not None:
            inter = np.intersect1d(mine, self.ngram_hashes, assume_unique=True).size
            union = mine.size + self.ngram_hashes.size - inter
            out["jaccard"] = inter / union if union else 0.0
            out["containment"] = inter / mine.size if mine.size else 0.0
            out["reference_ngrams"] = float(self.ngram_hashes.size)
        return out


def near_duplicates(sigs: np.ndarray, hasher: MinHasher, threshold: float = 0.8) -> list[list[int]]:
    """For each signature, the other rows that are near-duplicates of it: the ONE definition that
    both the dedup step and the near-duplicate score use.

    A pair is a near-duplicate when datasketch's MinHashLSH at ``threshold`` makes it a
    candidate (some band of rows identical; the bands depend only on ``threshold`` and
    ``num_perm``) AND its estimated Jaccard (share of equal slots) is >= ``threshold``. Both
    conditions depend on the two signatures alone, so a pair is a near-duplicate or not whatever
    else is in the set -- which is why :func:`dedup_keep` leaves no near-duplicate pair behind.
    Empty signatures (texts without words) are never near-duplicates.
    """
    from datasketch import MinHashLSH

    index = MinHashLSH(threshold=threshold, num_perm=hasher.num_perm)
    leans = [hasher.lean(s) for s in sigs]
    empty = (sigs == _EMPTY).all(1)
    with index.insertion_session() as session:
        for i, m in enumerate(leans):
            if not empty[i]:
                session.insert(i, m, check_duplication=False)
    out = []
    for i, m in enumerate(leans):
        if empty[i]:
            out.append([])
            continue
        cand = [j for j in index.query(m) if j != i]
        out.append(sorted(j for j in cand if (sigs[i] == sigs[j]).mean() >= threshold))
    return out


def dedup_keep(sigs: np.ndarray, hasher: MinHasher, threshold: float = 0.8) -> list[int]:
    """Indices to keep after near-duplicate removal, in order: a row is dropped when it is a
    near-duplicate (:func:`near_duplicates`) of an EARLIER kept row. No two kept rows are
    near-duplicates at ``threshold``."""
    graph = near_duplicates(sigs, hasher, threshold)
    kept: list[int] = []
    kept_set: set[int] = set()
    for i, neighbours in enumerate(graph):
        if not any(j in kept_set for j in neighbours):
            kept.append(i)
            kept_set.add(i)
    return kept


__all__ = ["MinHasher", "ReferenceIndex", "MinHashSignatureStep", "TextsReader", "make_executor",
           "doc_ngram_hashes", "ngram_hash32", "ngram_hash64", "estimate_jaccard", "union_signature",
           "near_duplicates", "dedup_keep", "HASH_SCHEME"]
