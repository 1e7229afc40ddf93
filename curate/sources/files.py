"""Local files as a source: jsonl / json / parquet / txt, or globs of them.

    source: {type: files, paths: ["data/*.jsonl"], text_field: text, id_field: id}

jsonl/json/parquet go through ``datasets`` (the same loader as Hub data); ``.txt`` files are one
document per file.
"""

from __future__ import annotations

import glob
from collections.abc import Iterator
from pathlib import Path

from curate.errors import SourceError
from curate.sources.base import Source

_BUILDERS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}


class FilesSource(Source):
    name = "files"
    domain = "general"
    description = "Local files"

    def __init__(self, paths: list[str] | str, text_field: str = "text", id_field: str | None = None,
                 name: str | None = None, domain: str | None = None, license: str | None = None):
        self.paths = [paths] if isinstance(paths, str) else list(paths)
        self.text_field = text_field
        self.id_field = id_field
        if name:
            self.name = name  # type: ignore[misc]
        if domain:
            self.domain = domain  # type: ignore[misc]
        if license:
            self.license = license  # type: ignore[misc]
        self.description = f"local files {', '.join(self.paths)}"  # type: ignore[misc]

    def files(self) -> list[Path]:
        out: list[Path] = []
        for pattern in self.paths:
            matches = sorted(glob.glob(str(Path(pattern).expanduser()), recursive=True))
            if not matches:
                raise SourceError(f"source file {pattern} does not exist", hint="fix 'paths' in the recipe")
            for m in matches:
                p = Path(m)
                if p.suffix.lower() not in _BUILDERS and p.suffix.lower() != ".txt":
                    raise SourceError(f"source file {p} has an unsupported type '{p.suffix}'",
                                      hint="use .jsonl, .json, .parquet, .csv or .txt")
                out.append(p)
        return out

    def documents(self) -> Iterator[tuple[str, str, str]]:
        import datasets

        for path in self.files():
            suffix = path.suffix.lower()
            if suffix == ".txt":
                yield path.name, path.name, path.read_text(encoding="utf-8", errors="replace")
                continue
            try:
                ds = datasets.load_dataset(_BUILDERS[suffix], data_files=str(path), split="train")
            except Exception as exc:  # datasets raises many types for malformed files
                raise SourceError(f"cannot read source file {path}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from exc
            if self.text_field not in ds.column_names:
                raise SourceError(f"source file {path} has no field '{self.text_field}'",
                                  hint=f"set text_field to one of: {', '.join(ds.column_names)}")
            if self.id_field and self.id_field not in ds.column_names:
                raise SourceError(f"source file {path} has no field '{self.id_field}'",
                                  hint=f"set id_field to one of: {', '.join(ds.column_names)}")
            for i, row in enumerate(ds):
                doc_id = str(row[self.id_field]) if self.id_field else f"{path.name}:{i}"
                yield doc_id, doc_id, row[self.text_field] or ""
