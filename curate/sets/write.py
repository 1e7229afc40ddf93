"""Writing a set version atomically and durably, and checking where it goes first.

    from curate.sets.write import write_version
    path, existed = write_version(samples, manifest, out_dir="out", name="default")

The version is assembled in ``<out>/<name>/.tmp-<pid>-<random>/``, every file and folder is
fsynced, and the folder is renamed into ``<out>/<name>/<version>/`` in one ``os.rename`` (then
the parent is fsynced): a reader sees either nothing or a whole version, even after a power
cut. Readers never look at hidden folders; a ``.tmp-*`` folder whose owner process is gone (a
killed build) is removed by the next write of that name. A finished version is never
overwritten; writing content whose fingerprint already exists under the name returns that
version instead of a copy, also when two identical builds race for the same label.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from curate.errors import CurateError
from curate.records import Sample
from curate.sets.fingerprint import FINGERPRINT_COLUMNS, fingerprint_rows, verify_version
from curate.sets.layout import CARD, MANIFEST, PARQUET, DamagedSetError, version_dirs

__all__ = ["FINGERPRINT_COLUMNS", "fingerprint_rows", "normalize_rows", "write_version", "check_label",
           "check_writable", "estimate_set_bytes"]

_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,99}$")
_TMP = ".tmp-"
STALE_UNOWNED_S = 3600  # a .tmp-* folder without an owner pid counts as stale after an hour


# --------------------------------------------------------------------------- checks before any work


def check_label(label: str, what: str = "version label") -> str:
    """A set name or version label is one path component: no separators, no '..', not absolute,
    not empty, starting with a letter or digit."""
    hint = "use letters, digits, '.', '_', '+' or '-', starting with a letter or digit, e.g. v2.0.0"
    if label is None or not str(label).strip():
        raise CurateError(f"{what} '{label or ''}' is empty", hint=hint + "; or leave it out for the next vN.0.0")
    label = str(label)
    if "/" in label or "\\" in label or os.path.isabs(label) or ".." in label:
        raise CurateError(f"{what} '{label}' is a path, not a label", hint=hint)
    if not _LABEL.match(label):
        raise CurateError(f"{what} '{label}' has characters a folder name cannot safely hold", hint=hint)
    return label


def estimate_set_bytes(n_samples: int, seq_len: int) -> int:
    """Upper estimate of a version on disk: int64 ids + text, in the arrow file and the parquet
    shard, plus the small files."""
    return int(n_samples) * int(seq_len) * (2 * 8 + 2 * 8) + (1 << 20)


def check_writable(out_dir: str | Path, *, need_bytes: int = 0, what: str = "--out") -> Path:
    """Refuse an output location that cannot take the result, before any work: under a regular
    file, not writable, or with less free space than ``need_bytes``. Creates nothing."""
    p = Path(out_dir).expanduser()
    anc = p
    while not anc.exists() and not anc.is_symlink() and anc != anc.parent:
        anc = anc.parent
    if not anc.is_dir():
        where = "is a file" if anc == p else f"is under the file {anc}"
        raise CurateError(f"{what} {p} {where}, not a folder", hint=f"choose another {what}")
    try:
        fd, probe = tempfile.mkstemp(dir=anc, prefix=".curate-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise CurateError(f"{what} {p} is not writable ({exc.strerror or exc})",
                          hint=f"choose a writable {what} folder") from None
    free = shutil.disk_usage(anc).free
    if need_bytes and free < need_bytes:
        raise CurateError(f"{what} {p} has {free / 1e6:.1f} MB free, about {need_bytes / 1e6:.1f} MB are needed",
                          hint=f"free some space or choose another {what}")
    return p


# --------------------------------------------------------------------------- rows and versions


def normalize_rows(samples: list[Sample]) -> list[dict[str, Any]]:
    rows = [s.to_row() for s in samples]
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    return [{k: r.get(k) for k in keys} for r in rows]


def existing_versions(root: Path) -> dict[str, dict[str, Any]]:
    """Finished versions under one name folder; a version whose manifest is unreadable is
    listed with an empty manifest (its label stays taken)."""
    out: dict[str, dict[str, Any]] = {}
    for d in version_dirs(root, finished=False):
        try:
            out[d.name] = json.loads((d / MANIFEST).read_text())
        except (OSError, ValueError):
            out[d.name] = {}
    return out


def next_version(existing: dict[str, Any]) -> str:
    majors = []
    for v in existing:
        head = v.lstrip("v").split(".")[0]
        if head.isdigit():
            majors.append(int(head))
    return f"v{max(majors, default=0) + 1}.0.0"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_tmp(root: Path) -> list[Path]:
    """Remove ``.tmp-<pid>-*`` folders of ``root`` whose process is gone (killed writes)."""
    removed = []
    if not root.is_dir():
        return removed
    for d in root.iterdir():
        if not d.name.startswith(_TMP):
            continue
        pid = d.name[len(_TMP):].split("-")[0]
        try:
            stale = (not _pid_alive(int(pid))) if pid.isdigit() else time.time() - d.stat().st_mtime > STALE_UNOWNED_S
        except OSError:
            continue
        if stale and pid != str(os.getpid()):
            shutil.rmtree(d, ignore_errors=True)
            removed.append(d)
    return removed


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(root: Path) -> None:
    """fsync every file, then every folder bottom-up, so the rename publishes durable bytes."""
    dirs = [root]
    for p in sorted(root.rglob("*")):
        if p.is_file():
            _fsync_path(p)
        elif p.is_dir():
            dirs.append(p)
    for d in reversed(dirs):
        _fsync_path(d)


def _missing_dirs(path: Path) -> list[Path]:
    out = []
    while not path.exists() and path != path.parent:
        out.append(path)
        path = path.parent
    return out  # deepest first


def _write_meta(tmp: Path, manifest: dict[str, Any]) -> None:
    from curate.sets.card import render_card

    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False, default=str))
    (tmp / CARD).write_text(render_card(manifest))


def _same_content(root: Path, fp: str, version: str | None) -> Path | None:
    for v, m in existing_versions(root).items():
        if m.get("fingerprint") == fp and (version is None or version == v):
            try:
                verify_version(root / v)
            except DamagedSetError as exc:
                raise DamagedSetError(f"version {root / v} claims this content but is damaged: {exc.message}",
                                      hint="remove that folder, then rerun") from None
            return root / v
    return None


def write_version(samples: list[Sample], manifest: dict[str, Any], out_dir: str | Path, name: str,
                  version: str | None = None) -> tuple[Path, bool]:
    """Write the version; return (path, existed). ``manifest`` is completed with name, version,
    fingerprint, created_at and columns."""
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    check_label(name, "set name")
    if version is not None:
        check_label(version, "version label")
    root = Path(out_dir) / name
    rows = normalize_rows(samples)
    fp = fingerprint_rows(rows)
    found = _same_content(root, fp, version)
    if found is not None:
        return found, True
    if version is not None and (root / version).exists():
        raise CurateError(f"version {root / version} already exists with other content",
                          hint="a finished version is never overwritten; pick another --version")
    created_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    created = _missing_dirs(root)
    root.mkdir(parents=True, exist_ok=True)
    remove_stale_tmp(root)
    tmp = root / f"{_TMP}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    final = root / (version or "?")
    try:
        table = pa.Table.from_pylist(rows)
        datasets.Dataset(table).save_to_disk(str(tmp))
        (tmp / PARQUET).parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, tmp / PARQUET)
        for _ in range(20):  # another writer may take the label between our check and our rename
            found = _same_content(root, fp, version)
            if found is not None:  # an identical build finished first: keep theirs
                shutil.rmtree(tmp, ignore_errors=True)
                return found, True
            label = version or next_version(existing_versions(root))
            final = root / label
            if final.exists():
                if version is not None:
                    raise CurateError(f"version {final} appeared while writing with other content; nothing was changed",
                                      hint="pick another --version")
                continue
            _write_meta(tmp, {"name": name, "version": label, "fingerprint": fp, "created_at": created_at,
                              **manifest, "columns": list(rows[0]) if rows else []})
            _fsync_tree(tmp)
            try:
                os.rename(tmp, final)  # atomic on one filesystem; fails if `final` appeared meanwhile
            except OSError as exc:
                if exc.errno in (errno.EEXIST, errno.ENOTEMPTY) or final.exists():
                    continue
                raise
            _fsync_path(root)
            return final, False
        raise CurateError(f"could not claim a version label under {root} (too many concurrent writers)",
                          hint="rerun the build")
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        for d in created:  # deepest first: leave no empty <name>/ (or --out) folder behind
            with contextlib.suppress(OSError):
                d.rmdir()
        if isinstance(exc, OSError):
            raise CurateError(f"cannot write set {name} under {Path(out_dir)}: {exc.strerror or exc}",
                              hint="nothing was written; free some space or choose another --out") from exc
        raise
