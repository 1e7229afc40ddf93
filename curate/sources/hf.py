"""Any Hugging Face Hub dataset as a source, through ``datasets.load_dataset``.

    source: {type: hf, path: allenai/c4, config: en, split: train, text_field: text,
             revision: 1588ec454efa1a09f29cd18ddd04fe05fc8653a2, streaming: true, max_docs: 20000}

Streaming reads only the first ``max_docs`` documents (C4 is 365 M documents); with
``shuffle_buffer`` the stream is shuffled (seeded) before that cut, as calibration samplers in the
Wanda/SparseGPT code draw random documents from a C4 shard. ``path`` may also be a local folder
or a builder name (``json``/``parquet``) with ``data_files``, which is how the tests run it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from curate.errors import SourceError
from curate.sources.base import Source


class HFSource(Source):
    name = "hf"
    domain = "web"
    license = "see-source"

    def __init__(self, path: str, config: str | None = None, split: str = "train", text_field: str = "text",
                 id_field: str | None = None, revision: str | None = None, streaming: bool = False,
                 data_files: Any = None, max_docs: int | None = None, shuffle_buffer: int | None = None,
                 seed: int = 0, name: str | None = None, domain: str | None = None, license: str | None = None,
                 trust_remote_code: bool = False):
        self.path, self.config, self.split = path, config, split
        self.text_field, self.id_field = text_field, id_field
        self.revision, self.streaming, self.data_files = revision, streaming, data_files
        self.max_docs, self.shuffle_buffer, self.seed = max_docs, shuffle_buffer, seed
        self.trust_remote_code = trust_remote_code
        self.name = name or path.rstrip("/").split("/")[-1]  # type: ignore[misc]
        self.hub_id = path if "/" in path and not path.startswith((".", "/")) else None  # type: ignore[misc]
        if domain:
            self.domain = domain  # type: ignore[misc]
        if license:
            self.license = license  # type: ignore[misc]
        self.description = f"{path}" + (f" ({config})" if config else "") + f", split {split}"  # type: ignore[misc]

    def load(self):
        import datasets

        kwargs: dict[str, Any] = {"split": self.split, "streaming": self.streaming}
        if self.revision:
            kwargs["revision"] = self.revision
        if self.data_files is not None:
            kwargs["data_files"] = self.data_files
        try:
            ds = datasets.load_dataset(self.path, self.config, **kwargs)
        except Exception as exc:  # network, missing dataset, bad config: many exception types
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise SourceError(f"cannot load Hub dataset '{self.path}': {msg}",
                              hint="check path/config/split/revision; the Hub must be reachable for Hub ids") from exc
        if self.shuffle_buffer:
            ds = ds.shuffle(seed=self.seed, buffer_size=self.shuffle_buffer) if self.streaming else ds.shuffle(seed=self.seed)
        return ds

    def documents(self) -> Iterator[tuple[str, str, str]]:
        ds = self.load()
        cols = getattr(ds, "column_names", None)
        if cols is not None and self.text_field not in cols:
            raise SourceError(f"dataset '{self.path}' has no field '{self.text_field}'",
                              hint=f"set text_field to one of: {', '.join(cols)}")
        if cols is not None and self.id_field and self.id_field not in cols:
            raise SourceError(f"dataset '{self.path}' has no field '{self.id_field}'",
                              hint=f"set id_field to one of: {', '.join(cols)}")
        for i, row in enumerate(ds):
            if self.max_docs is not None and i >= self.max_docs:
                break
            if self.text_field not in row:
                raise SourceError(f"dataset '{self.path}' has no field '{self.text_field}'")
            doc_id = str(row[self.id_field]) if self.id_field else str(i)
            text = row[self.text_field] or ""
            if isinstance(text, list):  # a messages list: the chat step parses it
                text = json.dumps(text, ensure_ascii=False)
            yield doc_id, doc_id, text
