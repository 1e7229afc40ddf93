"""Writing a set version atomically, and its content fingerprint.

    from curate.writer import write_version
    path, existed = write_version(samples, manifest, out_dir="out", name="default")

The version is assembled in ``<out>/<name>/.tmp-<random>/`` and renamed into
``<out>/<name>/<version>/`` in one ``os.rename``: a reader sees either nothing or a whole
version, and a crash leaves only a ``.tmp-*`` folder (removed on the next error path, ignored by
readers). A finished version is never overwritten; writing content whose fingerprint already
exists under the name returns that version instead of a copy.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from curate.dataset import CARD, MANIFEST, PARQUET
from curate.errors import CurateError
from curate.records import Sample

FINGERPRINT_COLUMNS = ("text", "input_ids", "source", "doc_id")


def fingerprint_rows(rows: list[dict[str, Any]]) -> str:
    """sha256 over the content columns of every row, in order. Scores and metadata are derived
    or descriptive and stay out, so adding a score never changes a set's identity."""
    h = hashlib.sha256()
    for r in rows:
        h.update(json.dumps([r[c] for c in FINGERPRINT_COLUMNS], ensure_ascii=False,
                            separators=(",", ":")).encode())
        h.update(b"\n")
    return h.hexdigest()


def normalize_rows(samples: list[Sample]) -> list[dict[str, Any]]:
    rows = [s.to_row() for s in samples]
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    return [{k: r.get(k) for k in keys} for r in rows]


def existing_versions(root: Path) -> dict[str, dict[str, Any]]:
    out = {}
    if root.exists():
        for d in sorted(root.iterdir()):
            mf = d / MANIFEST
            if d.is_dir() and not d.name.startswith(".") and mf.exists():
                out[d.name] = json.loads(mf.read_text())
    return out


def next_version(existing: dict[str, Any]) -> str:
    majors = []
    for v in existing:
        head = v.lstrip("v").split(".")[0]
        if head.isdigit():
            majors.append(int(head))
    return f"v{max(majors, default=0) + 1}.0.0"


def write_version(samples: list[Sample], manifest: dict[str, Any], out_dir: str | Path, name: str,
                  version: str | None = None) -> tuple[Path, bool]:
    """Write the version; return (path, existed). ``manifest`` is completed with name, version,
    fingerprint, created_at and columns."""
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = Path(out_dir) / name
    rows = normalize_rows(samples)
    fp = fingerprint_rows(rows)
    existing = existing_versions(root)
    for v, m in existing.items():
        if m.get("fingerprint") == fp and (version is None or version == v):
            return root / v, True
    if version is not None and (version in existing or (root / version).exists()):
        raise CurateError(f"version {root / version} already exists with other content",
                          hint="a finished version is never overwritten; pick another --version")
    version = version or next_version(existing)
    final = root / version
    manifest = {"name": name, "version": version, "fingerprint": fp,
                "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), **manifest,
                "columns": list(rows[0]) if rows else []}
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".tmp-{uuid.uuid4().hex[:12]}"
    try:
        table = pa.Table.from_pylist(rows)
        ds = datasets.Dataset(table)
        ds.save_to_disk(str(tmp))
        (tmp / PARQUET).parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, tmp / PARQUET)
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False, default=str))
        from curate.cards import render_card

        (tmp / CARD).write_text(render_card(manifest))
        os.rename(tmp, final)  # atomic on one filesystem; fails if `final` appeared meanwhile
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if final.exists():
            raise CurateError(f"version {final} appeared while writing; nothing was changed") from exc
        raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final, False
