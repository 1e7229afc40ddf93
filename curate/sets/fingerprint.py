"""A set's content fingerprint, and checking the files of a version against it.

    curate verify out/default/v1.0.0          # or a whole folder: curate verify out
    from curate.sets.fingerprint import verify_version
    fp = verify_version("out/default/v1.0.0")   # the fingerprint, or a one-line CurateError

The fingerprint is a sha256 over the content columns (``text, input_ids, source, doc_id``) of
every row, in order, one JSON line per row; a row with an ``assistant_mask`` (chat sets) adds it
to its line, so sets without the column keep the fingerprints they always had. The writer computes it from the rows it writes;
:func:`verify_version` recomputes it by streaming the rows back from *both* copies on disk (the
``save_to_disk`` arrow file(s) and the Hub parquet shard) and compares it, and the row count,
with ``manifest.json``. A verdict is cached by (path, size, mtime_ns) of the manifest and data
files, in memory and under ``<cache>/verified/``, so a reader pays for the hash once per change
of the files: a cached check is a handful of ``stat`` calls.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from curate.sets.layout import DAMAGED_HINT as _HINT
from curate.sets.layout import MANIFEST, PARQUET, STATE, DamagedSetError, read_manifest_file

FINGERPRINT_COLUMNS = ("text", "input_ids", "source", "doc_id")
# Content columns that only some sets have: part of a row's line where the value is not None.
OPTIONAL_FINGERPRINT_COLUMNS = ("assistant_mask",)
_memo: dict[str, tuple[Any, str]] = {}  # realpath of the version -> (stat key, fingerprint)


def _update(h: Any, values: list[Any]) -> None:
    h.update(json.dumps(values, ensure_ascii=False, separators=(",", ":")).encode())
    h.update(b"\n")


def fingerprint_rows(rows: Iterable[dict[str, Any]]) -> str:
    """sha256 over the content columns of every row, in order. Scores and metadata are derived
    or descriptive and stay out, so adding a score never changes a set's identity."""
    h = hashlib.sha256()
    for r in rows:
        extra = [r[c] for c in OPTIONAL_FINGERPRINT_COLUMNS if r.get(c) is not None]
        _update(h, [r[c] for c in FINGERPRINT_COLUMNS] + extra)
    return h.hexdigest()


def fingerprint_batches(batches: Iterable[Any], lengths: set[int] | None = None) -> tuple[str, int]:
    """(fingerprint, rows) of a stream of pyarrow RecordBatches, one batch in memory at a time;
    the distinct ``input_ids`` lengths are added to ``lengths`` when given."""
    h = hashlib.sha256()
    n = 0
    for b in batches:
        names = b.schema.names
        cols = [b.column(names.index(c)).to_pylist() if c in names else [None] * b.num_rows
                for c in FINGERPRINT_COLUMNS + OPTIONAL_FINGERPRINT_COLUMNS]
        k = len(FINGERPRINT_COLUMNS)
        for values in zip(*cols, strict=True):
            _update(h, list(values[:k]) + [v for v in values[k:] if v is not None])
            if lengths is not None and values[1]:
                lengths.add(len(values[1]))
        n += b.num_rows
    return h.hexdigest(), n


def arrow_files(version_dir: Path) -> list[Path]:
    """The arrow files ``save_to_disk`` wrote, in order (from its ``state.json``)."""
    state = json.loads((version_dir / STATE).read_text())
    return [version_dir / f["filename"] for f in state.get("_data_files") or []]


def _arrow_batches(files: list[Path]) -> Iterator[Any]:
    import pyarrow as pa

    for f in files:
        with pa.memory_map(str(f)) as src:
            yield from pa.ipc.open_stream(src)


def _parquet_batches(f: Path) -> Iterator[Any]:
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(f)
    cols = [c for c in FINGERPRINT_COLUMNS + OPTIONAL_FINGERPRINT_COLUMNS if c in pf.schema_arrow.names]
    yield from pf.iter_batches(batch_size=256, columns=cols)


def _stat_key(files: list[Path]) -> list[list[Any]]:
    out = []
    for f in files:
        st = f.stat()
        out.append([os.path.abspath(f), st.st_size, st.st_mtime_ns])
    return out


def _cache_file(real: str) -> Path:
    from curate.files import cache_dir

    return cache_dir() / "verified" / f"{hashlib.sha256(real.encode()).hexdigest()[:32]}.json"


def _still_valid(key: Any, expected: str) -> bool:
    """A recorded verdict holds while the fingerprint and every recorded file's size and mtime do
    (the record lists manifest and state.json too, so a new file list also invalidates it)."""
    try:
        fp, files = key
        if fp != expected:
            return False
        for path, size, mtime in files:
            st = os.stat(path)
            if st.st_size != size or st.st_mtime_ns != mtime:
                return False
    except (OSError, ValueError, TypeError):
        return False
    return True


def _cached(real: str, expected: str) -> bool:
    hit = _memo.get(real)
    if hit is None:
        try:
            data = json.loads(_cache_file(real).read_text())
            hit = (data["key"], data["fingerprint"])
        except (OSError, ValueError, KeyError, TypeError):
            return False
    if hit[1] == expected and _still_valid(hit[0], expected):
        _memo[real] = hit
        return True
    return False


def _remember(real: str, key: Any, fp: str) -> None:
    _memo[real] = (key, fp)
    path = _cache_file(real)
    try:  # a cache that cannot be written only costs a rehash next time
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(json.dumps({"path": real, "key": key, "fingerprint": fp}))
        os.replace(tmp, path)
    except OSError:
        pass


def verify_version(version_dir: str | Path, *, use_cache: bool = True,
                   manifest: dict[str, Any] | None = None) -> str:
    """Check that the rows of both data copies hash to the manifest's fingerprint, that their
    count is its ``n_samples`` and their token length its ``seq_len``; return the fingerprint or
    raise :class:`DamagedSetError`."""
    vdir = Path(version_dir)
    mf = vdir / MANIFEST
    m = manifest if manifest is not None else read_manifest_file(mf)
    expected = m.get("fingerprint")
    if not isinstance(expected, str) or not expected:
        raise DamagedSetError(f"{mf} has no fingerprint", hint=_HINT)
    real = os.path.abspath(vdir)
    if use_cache and _cached(real, expected):  # a few stat calls, no parsing of the data files
        return expected
    try:
        arrows = arrow_files(vdir)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DamagedSetError(f"{vdir / STATE} is unreadable ({type(exc).__name__})", hint=_HINT) from None
    files = [mf, vdir / STATE, *arrows, vdir / PARQUET]
    missing = [f for f in files if not f.is_file()]
    if missing or not arrows:
        raise DamagedSetError(f"{missing[0] if missing else vdir / STATE} is missing"
                              + ("" if missing else " its data files"), hint=_HINT)
    key = [expected, _stat_key(files)]
    from pyarrow.lib import ArrowException

    n_expected, seq_len = m.get("n_samples"), m.get("seq_len")
    for label, batches in (("arrow", lambda: _arrow_batches(arrows)), ("parquet", lambda: _parquet_batches(vdir / PARQUET))):
        where = arrows[0] if label == "arrow" else vdir / PARQUET
        lengths: set[int] = set()
        try:
            fp, n = fingerprint_batches(batches(), lengths)
        except (OSError, ValueError, ArrowException) as exc:  # ArrowInvalid is also a ValueError
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DamagedSetError(f"{where} is unreadable ({first[:160]})", hint=_HINT) from None
        if fp != expected:
            raise DamagedSetError(f"the rows of {where} hash to {fp[:12]}, its manifest says {expected[:12]}", hint=_HINT)
        if isinstance(n_expected, int) and n != n_expected:
            raise DamagedSetError(f"{where} holds {n} rows, {mf} says n_samples={n_expected}", hint=_HINT)
        if isinstance(seq_len, int) and lengths and lengths != {seq_len}:
            raise DamagedSetError(f"{where} holds rows of {sorted(lengths)[:3]} tokens, {mf} says seq_len={seq_len}",
                                  hint=_HINT)
    _remember(real, key, expected)
    return expected
