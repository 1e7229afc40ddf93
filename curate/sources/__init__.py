"""Sources of documents: bundled offline corpora, local files, Hugging Face datasets, plug-ins.

    from curate.sources import iter_source, SOURCE_DOMAINS
    for doc in iter_source("wikipedia", split="heldout"):
        print(doc.doc_id, doc.text[:80])

:data:`SOURCE_TYPES` maps a recipe's ``source: {type: ...}`` to a maker and the spec of the
block: the maker is called as ``maker(spec, seed)`` and returns a :class:`Source` (a Source
subclass whose ``__init__`` takes ``(spec, seed)`` qualifies). A new type is one file plus one
line here, or an entry point in the ``curate.sources`` group naming such a class with a ``Spec``
attribute (without one, its block takes only ``type``). :data:`SOURCES` names the bundled
corpora of ``{type: bundled, name: ...}``.
"""

from __future__ import annotations

import typing
from collections.abc import Iterator

from curate.errors import SourceError
from curate.records import Sample
from curate.registry import Registry, SpecRegistry
from curate.sources.base import HELDOUT_PERMILLE, Source, SourceSpec, Split, split_of

SOURCE_TYPES = SpecRegistry("source type", entry_point_group="curate.sources", default_spec=SourceSpec)
SOURCE_TYPES.register("bundled", "curate.sources.specs:bundled_source", spec="curate.sources.specs:BundledSourceSpec")
SOURCE_TYPES.register("files", "curate.sources.specs:files_source", spec="curate.sources.specs:FilesSourceSpec")
SOURCE_TYPES.register("hf", "curate.sources.specs:hf_source", spec="curate.sources.specs:HFSourceSpec")

SOURCES = Registry("bundled source")
SOURCES.register("wikipedia", "curate.sources.bundled:Wikipedia")
SOURCES.register("shakespeare", "curate.sources.bundled:Shakespeare")
SOURCES.register("python-stdlib", "curate.sources.bundled:PythonStdlib")
SOURCES.register("champ-math", "curate.sources.bundled:ChampMath")
SOURCES.register("chat", "curate.sources.bundled:Chat")

# Domain of each bundled source (its class's ``domain``), the capability dimension (Xu et al.
# 2026) it speaks to; in registration order.
SOURCE_DOMAINS: dict[str, str] = {name: SOURCES.get(name).domain for name in SOURCES.names(sort=False)}
BUNDLED = tuple(SOURCE_DOMAINS)


class _Cached(Source):
    """A bundled source whose parsed documents are cached for the process."""

    def __init__(self, inner: type[Source]):
        self.inner = inner
        self.name = inner.name  # type: ignore[misc]
        self.domain = inner.domain  # type: ignore[misc]
        self.license = inner.license  # type: ignore[misc]
        self.hub_id = inner.hub_id  # type: ignore[misc]
        self.description = inner.description  # type: ignore[misc]

    def provenance(self):
        return self.inner().provenance()

    def documents(self):
        from curate.sources.bundled import cached_documents

        return iter(cached_documents(self.name))


def get_source(name: str) -> Source:
    return _Cached(SOURCES.get(name))


def iter_source(name: str, split: str = "calibration") -> Iterator[Sample]:
    """Documents of a bundled source in one split (``calibration``, ``heldout`` or ``all``)."""
    splits = typing.get_args(Split)
    if split not in splits:  # e.g. --reference wikipedia:test: say so, not "no documents in split"
        raise SourceError(f"source '{name}': unknown split '{split}'", hint=f"give one of: {', '.join(splits)}")
    return get_source(name).iter(typing.cast(Split, split))


__all__ = ["SOURCES", "SOURCE_TYPES", "SourceSpec", "SOURCE_DOMAINS", "BUNDLED", "HELDOUT_PERMILLE", "Source", "Split", "get_source",
           "iter_source", "split_of"]
