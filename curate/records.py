"""The record that flows through a pipeline: one calibration sample (or one pool document).

Steps pass lists/iterators of :class:`Sample`; the writer turns them into dataset rows with
columns ``text, input_ids, source, doc_id`` plus flattened ``meta`` and ``scores``, and
``assistant_mask`` for chat-formatted samples.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Sample:
    text: str
    source: str  # name of the source it came from ("wikipedia", "self-gen:wikipedia", ...)
    doc_id: str  # stable id of the document in its source (+ ":window" for windows)
    input_ids: list[int] | None = None  # exactly L ids once a sampler/generator has run
    meta: dict[str, Any] = field(default_factory=dict)  # prefix_len, temperature, offset, ...
    scores: dict[str, float] = field(default_factory=dict)  # ppl, min_k_pp, ...
    # Chat samples: 1 on the assistant's tokens, 0 elsewhere, one entry per input id (L,).
    assistant_mask: list[int] | None = None

    def to_row(self) -> dict[str, Any]:
        row: dict[str, Any] = {
            "text": self.text,
            "input_ids": list(self.input_ids or []),
            "source": self.source,
            "doc_id": self.doc_id,
        }
        if self.assistant_mask is not None:
            row["assistant_mask"] = list(self.assistant_mask)
        for k, v in self.meta.items():
            row[f"meta_{k}"] = v
        for k, v in self.scores.items():
            row[f"score_{k}"] = float(v)
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Sample:
        meta = {k[5:]: v for k, v in row.items() if k.startswith("meta_")}
        scores = {k[6:]: v for k, v in row.items() if k.startswith("score_") and v is not None}
        return cls(text=row["text"], source=row.get("source", ""), doc_id=str(row.get("doc_id", "")),
                   input_ids=list(row["input_ids"]) if row.get("input_ids") is not None else None,
                   meta=meta, scores=scores,
                   assistant_mask=list(row["assistant_mask"]) if row.get("assistant_mask") is not None else None)
