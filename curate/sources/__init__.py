"""Sources of documents: bundled offline corpora, local files, Hugging Face datasets.

    from curate.sources import iter_source, SOURCE_DOMAINS
    for doc in iter_source("wikipedia", split="heldout"):
        print(doc.doc_id, doc.text[:80])
"""

from __future__ import annotations

from collections.abc import Iterator

from curate.records import Sample
from curate.registry import Registry
from curate.sources.base import HELDOUT_PERMILLE, Source, Split, split_of

SOURCES = Registry("source", entry_point_group="curate.sources")
SOURCES.register("wikipedia", "curate.sources.bundled:Wikipedia")
SOURCES.register("shakespeare", "curate.sources.bundled:Shakespeare")
SOURCES.register("python-stdlib", "curate.sources.bundled:PythonStdlib")
SOURCES.register("champ-math", "curate.sources.bundled:ChampMath")
SOURCES.register("chat", "curate.sources.bundled:Chat")

# Domain of each bundled source, and the capability dimension (Xu et al. 2026) it speaks to.
SOURCE_DOMAINS: dict[str, str] = {
    "wikipedia": "encyclopedic",
    "shakespeare": "literature",
    "python-stdlib": "code",
    "champ-math": "math",
    "chat": "chat",
}
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


def iter_source(name: str, split: Split = "calibration") -> Iterator[Sample]:
    """Documents of a bundled source in one split (``calibration``, ``heldout`` or ``all``)."""
    return get_source(name).iter(split)


__all__ = ["SOURCES", "SOURCE_DOMAINS", "BUNDLED", "HELDOUT_PERMILLE", "Source", "Split", "get_source",
           "iter_source", "split_of"]
