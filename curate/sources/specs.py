"""Recipe blocks of the built-in source types and the functions that make their sources.

    source: {type: bundled, name: wikipedia}
    source: {type: files, paths: ["data/*.jsonl"], text_field: text}
    source: {type: hf, path: allenai/c4, config: en, streaming: true, max_docs: 20000}

Each type is registered in :data:`curate.sources.SOURCE_TYPES` as (maker, spec); a maker is
called with the validated block and the build seed and returns a :class:`Source`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from curate.sources.base import Source, SourceSpec, Split


class BundledSourceSpec(SourceSpec):
    type: Literal["bundled"] = "bundled"
    name: str  # a name of curate.sources.SOURCES
    reads: ClassVar[Split] = "calibration"

    @field_validator("name")
    @classmethod
    def _known(cls, v: str) -> str:
        from curate.sources.bundled import SOURCES

        return SOURCES.check_name(v)


def bundled_source(spec: BundledSourceSpec, seed: int = 0) -> Source:
    from curate.sources.bundled import get_source

    return get_source(spec.name)


class FilesSourceSpec(SourceSpec):
    type: Literal["files"]
    paths: list[str] = Field(min_length=1)
    text_field: str = "text"
    id_field: str | None = None
    name: str | None = None
    domain: str | None = None
    license: str | None = None
    encoding: str = "utf-8"  # of .txt files; decoded strictly

    @field_validator("paths", mode="before")
    @classmethod
    def _one_path(cls, v):
        return [v] if isinstance(v, str) else v

    def label(self) -> str:
        return self.name or Path(self.paths[0]).stem.replace("*", "") or "files"


def files_source(spec: FilesSourceSpec, seed: int = 0) -> Source:
    from curate.sources.files import FilesSource

    src = FilesSource(spec.paths, spec.text_field, spec.id_field, spec.name, spec.domain, spec.license,
                      encoding=spec.encoding, max_doc_bytes=spec.max_doc_bytes)
    src.files()  # fail early on a missing file
    return src


class HFSourceSpec(SourceSpec):
    type: Literal["hf"]
    path: str
    config: str | None = None
    split: str = "train"  # the dataset split; all of it is read
    text_field: str = "text"
    id_field: str | None = None
    revision: str | None = None
    streaming: bool = False
    data_files: Any = None
    max_docs: int | None = Field(default=None, gt=0)
    shuffle_buffer: int | None = Field(default=None, gt=0)
    name: str | None = None
    domain: str | None = None
    license: str | None = None

    def label(self) -> str:
        return self.name or self.path.rstrip("/").split("/")[-1]


def hf_source(spec: HFSourceSpec, seed: int = 0) -> Source:
    from curate.sources.hf import HFSource

    return HFSource(**spec.model_dump(exclude={"type"}), seed=seed)
