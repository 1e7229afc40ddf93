"""Sources of documents: bundled offline corpora, local files, Hugging Face datasets, plug-ins.

    from curate.sources import iter_source, SOURCE_DOMAINS
    for doc in iter_source("wikipedia", split="heldout"):
        print(doc.doc_id, doc.text[:80])

:data:`SOURCE_TYPES` maps a recipe's ``source: {type: ...}`` to a maker and the spec of the
block: the maker is called as ``maker(spec, seed)`` and returns a :class:`Source` (a Source
subclass whose ``__init__`` takes ``(spec, seed)`` qualifies). A new type is one file plus one
line here, or an entry point in the ``curate.sources`` group naming such a class with a ``Spec``
attribute (without one, its block takes only ``type``). :data:`SOURCES` names the bundled
corpora of ``{type: bundled, name: ...}`` (registered in :mod:`curate.sources.bundled`, beside
their classes).
"""

from __future__ import annotations

from curate.registry import SpecRegistry
from curate.sources.base import HELDOUT_PERMILLE, Source, SourceSpec, Split, split_of
from curate.sources.bundled import (
           BUNDLED,
           SOURCE_DOMAINS,
           SOURCES,
           cached_documents,
           get_source,
           iter_source,
)

SOURCE_TYPES = SpecRegistry("source type", entry_point_group="curate.sources", default_spec=SourceSpec)
SOURCE_TYPES.register("bundled", "curate.sources.specs:bundled_source", spec="curate.sources.specs:BundledSourceSpec")
SOURCE_TYPES.register("files", "curate.sources.specs:files_source", spec="curate.sources.specs:FilesSourceSpec")
SOURCE_TYPES.register("hf", "curate.sources.specs:hf_source", spec="curate.sources.specs:HFSourceSpec")

__all__ = ["SOURCES", "SOURCE_TYPES", "SourceSpec", "SOURCE_DOMAINS", "BUNDLED", "HELDOUT_PERMILLE", "Source", "Split",
           "cached_documents", "get_source",
           "iter_source", "split_of"]
