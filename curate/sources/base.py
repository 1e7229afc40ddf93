"""Source base class, the base of a source's recipe block, and the held-out split.

Every source yields documents as :class:`~curate.records.Sample` (text, source, doc_id, no ids
yet). Each document belongs to exactly one split, decided by a hash of its *group* (the
document itself, or e.g. the work a Shakespeare folio variant belongs to), so that calibration
never samples text that evaluation holds out:

    split(doc) = "heldout" if sha256(f"{source}:{group}") mod 1000 < heldout_permille else "calibration"
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import ClassVar, Literal

from pydantic import Field

from curate.records import Sample
from curate.registry import Spec

Split = Literal["calibration", "heldout", "all"]
HELDOUT_PERMILLE = 100  # 10 % of each bundled source is held out for evaluation
# A document is tokenized whole by the samplers (~30 bytes of Python ints per token, ~4 bytes of
# text a token): one of 16 MB costs ~120 MB, one of 50 MB ~0.4 GB and a 1 GB line would end in an
# OOM minutes later. Longer documents are an error naming the knob (``max_doc_bytes`` of the
# source block) that raises the cap, not a slow OOM.
MAX_DOC_BYTES = 16_000_000


def doc_bytes(text: str) -> int:
    """UTF-8 size of ``text``; encodes only when the character count cannot settle it."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def doc_too_long(where: str, n: int, cap: int = MAX_DOC_BYTES, unit: str = "bytes"):
    from curate.errors import SourceError

    return SourceError(f"{where} is a document of {n:,} {unit}, more than the {cap:,} bytes a document may "
                       "hold (max_doc_bytes)", hint="split it into smaller documents (e.g. one per paragraph or "
                       "section, as jsonl rows), or raise 'max_doc_bytes' on the source block")


class SourceSpec(Spec):
    """A component's ``source:`` block. Subclasses narrow ``type`` to ``Literal["<name>"]``;
    ``reads`` is the split of the source a component draws from (bundled corpora hold 10 % out
    for evaluation, other sources are used whole)."""

    type: str
    # A guard, never part of the content: a build either passes it unchanged or fails, so it is
    # left out of the canonical recipe (and its hash): exclude=True.
    max_doc_bytes: int = Field(default=MAX_DOC_BYTES, gt=0, exclude=True)
    reads: ClassVar[Split] = "all"

    def label(self) -> str:
        """The component's name when it has none: the block's ``name``, else its type."""
        return str(getattr(self, "name", None) or self.type)


def split_of(source: str, group: str, heldout_permille: int = HELDOUT_PERMILLE) -> str:
    h = int(hashlib.sha256(f"{source}:{group}".encode()).hexdigest()[:8], 16)
    return "heldout" if h % 1000 < heldout_permille else "calibration"


class Source:
    """A named stream of documents. Subclasses implement :meth:`documents`."""

    name: ClassVar[str] = "source"
    domain: ClassVar[str] = "general"  # encyclopedic, literature, code, math, chat, web, ...
    license: ClassVar[str] = "unknown"
    hub_id: ClassVar[str | None] = None  # the Hub dataset a user would use online
    description: ClassVar[str] = ""
    heldout_permille: int = HELDOUT_PERMILLE

    def documents(self) -> Iterator[tuple[str, str, str]]:  # pragma: no cover
        """Yield (doc_id, group, text) in a stable order."""
        raise NotImplementedError

    def iter(self, split: Split = "calibration", max_doc_bytes: int = MAX_DOC_BYTES) -> Iterator[Sample]:
        seen = False
        for doc_id, group, text in self.documents():
            if not text or not text.strip():
                continue
            if len(text) > max_doc_bytes // 4 and (n := doc_bytes(text)) > max_doc_bytes:
                raise doc_too_long(f"document {doc_id} of source '{self.name}'", n, max_doc_bytes)
            if split != "all" and split_of(self.name, group, self.heldout_permille) != split:
                continue
            seen = True
            yield Sample(text=text, source=self.name, doc_id=doc_id, meta={"group": group} if group != doc_id else {})
        if not seen:
            from curate.errors import SourceError

            raise SourceError(f"source '{self.name}' has no documents in split '{split}'",
                              hint="check the files/dataset it reads")

    def provenance(self) -> dict | None:
        """Where the documents come from (package, version, license, upstream URL), or None."""
        return None

    def card_info(self) -> dict:
        return {"name": self.name, "domain": self.domain, "license": self.license,
                "hub_id": self.hub_id, "description": self.description, "provenance": self.provenance()}
