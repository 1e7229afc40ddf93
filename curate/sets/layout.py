"""What a set version folder holds, reading its manifest, and the one way to list versions.

    from curate.sets.layout import versions, list_versions
    versions("out/default")          # [out/default/v1.0.0, out/default/v2.0.0]: oldest first
    list_versions("out")             # every finished version's manifest (+ "path"), in path order

On-disk layout of a curate set version (written atomically by :mod:`curate.sets.write`)::

    <out>/<name>/<version>/
        data-00000-of-00001.arrow, dataset_info.json, state.json   # Dataset.save_to_disk
        data/train-00000-of-00001.parquet                           # same rows, for the Hub
        manifest.json                                               # recipe, model, counts, fingerprint
        README.md                                                   # dataset card
        extras/                                                     # scores/validation added later;
                                                                    # never part of the fingerprint

A folder is a *finished* version when it is not hidden and holds ``manifest.json`` and
``state.json``; ``.tmp-*`` folders of a write in progress (or a killed one) never count.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from curate.errors import CurateError

MANIFEST = "manifest.json"
CARD = "README.md"
STATE = "state.json"
PARQUET = "data/train-00000-of-00001.parquet"
EXTRAS = "extras"
DAMAGED_HINT = "edited, truncated or replaced since it was written; rebuild it with 'curate build'"


class DamagedSetError(CurateError):
    """A set version's files disagree with its manifest (edited, truncated or missing)."""


def read_manifest_file(path: Path) -> dict[str, Any]:
    """``manifest.json`` as a dict, or a one-line error naming the file."""
    try:
        m = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DamagedSetError(f"{path} is missing", hint=DAMAGED_HINT) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise DamagedSetError(f"{path} is not valid JSON ({str(exc).splitlines()[0]})", hint=DAMAGED_HINT) from None
    if not isinstance(m, dict):
        raise DamagedSetError(f"{path} is not a JSON object", hint=DAMAGED_HINT)
    return m


def is_version_dir(path: Path) -> bool:
    """A finished version folder. Hidden folders (``.tmp-*`` of a write in progress or killed)
    never count, whatever they hold."""
    return not path.name.startswith(".") and (path / MANIFEST).exists() and (path / STATE).exists()


def version_sort_key(d: Path) -> tuple[str, str]:
    """(created_at, folder name) of a version: oldest first, a damaged manifest is a one-line error."""
    return str(read_manifest_file(d / MANIFEST).get("created_at") or ""), d.name


def version_dirs(name_dir: str | Path, *, finished: bool = True) -> list[Path]:
    """Version folders of one set name, in name order. ``finished=False`` also lists folders
    that hold a manifest but no data (their label is taken all the same)."""
    name_dir = Path(name_dir)
    if not name_dir.is_dir():
        return []
    return [d for d in sorted(name_dir.iterdir())
            if d.is_dir() and not d.name.startswith(".")
            and (is_version_dir(d) if finished else (d / MANIFEST).exists())]


def versions(name_dir: str | Path) -> list[Path]:
    """Finished versions of one set name, oldest first (by ``created_at``, then folder name)."""
    return sorted(version_dirs(name_dir), key=version_sort_key)


def list_versions(root: str | Path) -> list[dict[str, Any]]:
    """Manifests of every finished set version under ``root`` (``root/<name>/<version>/``), in
    path order.

    A version whose manifest cannot be read is listed as ``{"path", "name", "version", "error"}``
    so one damaged folder never hides the others."""
    root = Path(root)
    dirs = [d for n in (sorted(root.iterdir()) if root.is_dir() else [])
            if n.is_dir() and not n.name.startswith(".") for d in version_dirs(n)]
    out = []
    for d in sorted(dirs, key=lambda d: str(d / MANIFEST)):  # the order of a glob of */*/manifest.json
        try:
            m = read_manifest_file(d / MANIFEST)
        except CurateError as exc:
            m = {"name": d.parent.name, "version": d.name, "error": exc.one_line()}
        m["path"] = str(d)
        out.append(m)
    return out
