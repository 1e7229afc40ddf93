"""Local files as a source: jsonl / json / parquet / txt, or globs of them.

    source: {type: files, paths: ["data/*.jsonl"], text_field: text, id_field: id}

``.jsonl`` is streamed line by line and a line is read at most ``max_doc_bytes`` (+1) bytes at a
time, so a 50 MB line fails at once with the file, the line and the knob named, before it is held
in memory; json/csv/parquet go through ``datasets`` (memory-mapped arrow, the same loader as Hub
data) and each row is checked against the cap. ``.txt`` files are one document per file (their
size is checked before a byte is read), decoded strictly with the source's ``encoding`` (default UTF-8): a file that
does not decode, or holds NUL bytes (binary), is an error naming the file and the byte, never
U+FFFD text. Empty files are errors; empty documents are skipped and counted in
``dropped["empty_text"]``, which the build records in the manifest's drop reasons.
"""

from __future__ import annotations

import codecs
import glob
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from curate.errors import SourceError
from curate.sources.base import MAX_DOC_BYTES, Source, doc_bytes, doc_too_long

_BUILDERS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}


class FilesSource(Source):
    name = "files"
    domain = "general"
    description = "Local files"

    def __init__(self, paths: list[str] | str, text_field: str = "text", id_field: str | None = None,
                 name: str | None = None, domain: str | None = None, license: str | None = None,
                 encoding: str = "utf-8", max_doc_bytes: int = MAX_DOC_BYTES):
        self.max_doc_bytes = max_doc_bytes
        self.paths = [paths] if isinstance(paths, str) else list(paths)
        try:
            self.encoding = codecs.lookup(encoding).name
        except LookupError:
            raise SourceError(f"unknown encoding '{encoding}' of source files {', '.join(self.paths)}",
                              hint="use a Python codec name such as utf-8, latin-1 or cp1252") from None
        self.dropped: Counter = Counter()  # reason -> documents skipped (recorded by the build)
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

    def read_text(self, path: Path) -> str:
        """One .txt document, decoded strictly; binary or undecodable bytes are a SourceError."""
        size = path.stat().st_size
        if size > 4 * self.max_doc_bytes:  # before reading it: no encoding packs more than 4 bytes a character
            raise doc_too_long(f"source file {path}", size, self.max_doc_bytes)
        raw = path.read_bytes()
        nul = raw.find(b"\x00", 0, 1 << 16)
        if nul >= 0 and not self.encoding.startswith("utf_16") and not self.encoding.startswith("utf_32"):
            raise SourceError(f"source file {path} looks binary (NUL byte at offset {nul})",
                              hint="calibration sources must be text; remove it from 'paths'")
        try:
            text = raw.decode(self.encoding)
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            raise SourceError(f"source file {path} is not valid {self.encoding} (byte 0x{raw[exc.start]:02x} at "
                              f"offset {exc.start}, line {line})",
                              hint="set 'encoding' on the source (e.g. encoding: latin-1) or convert the file to UTF-8") from None
        if (n := doc_bytes(text)) > self.max_doc_bytes:
            raise doc_too_long(f"source file {path}", n, self.max_doc_bytes)
        return text

    @staticmethod
    def check_utf8(path: Path, chunk: int = 1 << 20) -> None:
        """jsonl/json/csv must be UTF-8 (what their loader reads); stream-check it so a bad byte is
        an error naming the file and offset, not a traceback mid-build."""
        dec = codecs.getincrementaldecoder("utf-8")()
        offset = 0
        with open(path, "rb") as f:
            while True:
                block = f.read(chunk)
                try:
                    dec.decode(block, final=not block)
                except UnicodeDecodeError as exc:
                    at = offset + exc.start
                    raise SourceError(f"source file {path} is not valid UTF-8 (byte at offset {at})",
                                      hint="convert the file to UTF-8") from None
                if not block:
                    return
                offset += len(block)

    def documents(self) -> Iterator[tuple[str, str, str]]:
        import datasets

        for path in self.files():
            suffix = path.suffix.lower()
            if path.stat().st_size == 0:
                raise SourceError(f"source file {path} is empty", hint="remove it from 'paths' or fill it")
            if suffix == ".txt":
                text = self.read_text(path)
                if not text.strip():
                    self.dropped["empty_text"] += 1
                    continue
                yield path.name, path.name, text
                continue
            if suffix == ".jsonl":
                yield from self.jsonl_documents(path)
                continue
            if suffix != ".parquet":
                self.check_utf8(path)
            try:
                ds = datasets.load_dataset(_BUILDERS[suffix], data_files=str(path), split="train")
            except Exception as exc:  # noqa: BLE001 - datasets raises many types for malformed files
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise SourceError(f"cannot read source file {path}: {first[:200]}",
                                  hint=f"check that it is valid {suffix.lstrip('.')} in UTF-8") from None
            if len(ds) == 0:
                raise SourceError(f"source file {path} has no rows", hint="remove it from 'paths' or fill it")
            if self.text_field not in ds.column_names:
                raise SourceError(f"source file {path} has no field '{self.text_field}'",
                                  hint=f"set text_field to one of: {', '.join(ds.column_names)}")
            if self.id_field and self.id_field not in ds.column_names:
                raise SourceError(f"source file {path} has no field '{self.id_field}'",
                                  hint=f"set id_field to one of: {', '.join(ds.column_names)}")
            for i, row in enumerate(ds):
                doc = self.row_document(row, path, i, f"row {i}")
                if doc is not None:
                    yield doc

    def row_document(self, row: dict, path: Path, i: int, where: str) -> tuple[str, str, str] | None:
        """(doc_id, group, text) of one row (the ``i``-th, 0-based, at ``where``), or None when empty."""
        doc_id = str(row[self.id_field]) if self.id_field else f"{path.name}:{i}"
        text = row[self.text_field]
        if isinstance(text, list) and all(isinstance(m, dict) for m in text):
            text = json.dumps(text, ensure_ascii=False)  # a messages list: the chat step parses it
        if text is not None and not isinstance(text, str):
            raise SourceError(f"source file {path} {where}: field '{self.text_field}' is "
                              f"{type(text).__name__}, not text", hint="point text_field at a string field")
        if not text or not text.strip():
            self.dropped["empty_text"] += 1
            return None
        if (n := doc_bytes(text)) > self.max_doc_bytes:
            raise doc_too_long(f"source file {path} {where}", n, self.max_doc_bytes)
        return doc_id, doc_id, text

    def jsonl_documents(self, path: Path) -> Iterator[tuple[str, str, str]]:
        """Stream a jsonl file: one object a line, blank lines skipped (as the datasets loader does,
        so doc ids ``<file>:<i>`` count non-blank rows and are the same as before). A line never
        costs more than ``max_doc_bytes`` + its JSON quoting: reading stops at the cap."""
        # JSON escapes cost up to 6 bytes a character ("\u00e9"); the cap is on the text itself, so
        # a line may be a few times longer than the document it holds before it is refused unread.
        limit = 6 * self.max_doc_bytes + 4096
        i = 0
        with open(path, "rb") as f:
            for lineno, raw in enumerate(iter(lambda: f.readline(limit + 1), b""), 1):
                if len(raw) > limit:
                    raise doc_too_long(f"source file {path} line {lineno}", len(raw), self.max_doc_bytes,
                                       unit="bytes or more of JSON")
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise SourceError(f"source file {path} is not valid UTF-8 (line {lineno}, byte {exc.start} of "
                                      "the line)", hint="convert the file to UTF-8") from None
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except ValueError as exc:
                    raise SourceError(f"source file {path} line {lineno} is not valid JSON: {exc}",
                                      hint="each line of a .jsonl file must be one JSON object") from None
                if not isinstance(row, dict):
                    raise SourceError(f"source file {path} line {lineno} is a JSON {type(row).__name__}, not an "
                                      "object", hint="each line of a .jsonl file must be one JSON object")
                for fld in (self.text_field, self.id_field):
                    if fld and fld not in row:
                        raise SourceError(f"source file {path} line {lineno} has no field '{fld}'",
                                          hint=f"set {'text_field' if fld == self.text_field else 'id_field'} "
                                               f"to one of: {', '.join(map(str, row)) or '(none: the object is empty)'}")
                doc = self.row_document(row, path, i, f"line {lineno}")
                i += 1
                if doc is not None:
                    yield doc
