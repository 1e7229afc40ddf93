"""Where curate writes files: atomically, with the mode a plain ``open()`` gives, under one cache folder.

    atomic_json(Path("runs/val/dense.json"), {"rows": []})   # old file or new one, never half
    atomic_write(Path("out/default/v1.0.0/README.md"), text)  # str or bytes
    atomic_bytes(path, lambda tmp: torch.save(obj, tmp))      # a writer that wants a file name

The one way curate replaces a file in place: every cache, card, extra and store file goes
through :func:`atomic_bytes` (a set version folder is published by :mod:`curate.sets.write`,
which renames a whole folder instead).
    cache_dir() / "validate"                                  # $CURATE_CACHE or ~/.cache/curate
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def cache_dir() -> Path:
    """curate's cache root: ``$CURATE_CACHE``, else ``$XDG_CACHE_HOME/curate`` (``~/.cache/curate``)."""
    root = os.environ.get("CURATE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "curate"
    )
    return Path(root)


def file_mode() -> int:
    """The mode a plain ``open()`` would give a new file (0o666 minus the umask): files written
    via ``mkstemp`` (0600) are set to it, so extras and cards are as readable as the rest."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def short_hash(obj: Any, n: int = 16) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:n]


def atomic_bytes(path: Path, write: Callable[[str], object]) -> None:
    """Write via a temp file in the same folder + ``os.replace``: a killed run leaves either the
    old file or the new one, never half of one. ``write(tmp)`` fills the temp file by name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, file_mode())  # mkstemp makes 0600; cards and extras are as readable as their set
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write(path: Path, data: bytes | str) -> None:
    """:func:`atomic_bytes` for content already in memory (``str`` is written as UTF-8)."""
    blob = data.encode("utf-8") if isinstance(data, str) else data
    atomic_bytes(path, lambda tmp: Path(tmp).write_bytes(blob))


def atomic_json(path: Path, obj: Any) -> None:
    atomic_write(path, json.dumps(obj, indent=2, default=str))


def atomic_folder(target: Path, fill: Callable[[Path], object]) -> Path:
    """Make the folder ``target`` whole or not at all: ``fill`` writes into a temporary sibling that is
    renamed into place; if another process got there first its folder is kept; on failure the
    temporary folder is removed and the error raised."""
    import shutil

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        fill(tmp)
        try:
            os.rename(tmp, target)
        except OSError:  # another process won the race; keep theirs
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", s).strip("_") or "set"
