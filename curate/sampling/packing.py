"""Packing: concatenate documents (seeded order, separated by EOS) and cut L-token blocks, for
sources whose documents are shorter than L (Wikipedia summaries, chat turns).

    - {type: sample, method: packing}
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

from curate.errors import SourceError
from curate.records import Sample
from curate.sampling.base import Sampler, Tokenize, make_tokenize, progress_bar, seeded_order


def packing(docs: Sequence[Sample], tokenize: Tokenize, n: int, seq_len: int, rng: random.Random,
            sep_id: int | None, decode: Callable[[list[int]], str] | None = None, source_name: str = "source",
            progress: bool = False) -> list[Sample]:
    order = seeded_order(docs, rng, source_name)
    out: list[Sample] = []
    buf: list[int] = []
    members: list[str] = []
    bar = progress_bar(progress, n, f"packing {source_name}")
    for i in order:
        if len(out) >= n:
            break
        ids = tokenize(docs[i].text)
        if not ids:
            continue
        buf.extend(ids + ([sep_id] if sep_id is not None else []))
        members.append(docs[i].doc_id)
        while len(buf) >= seq_len and len(out) < n:
            block, buf = buf[:seq_len], buf[seq_len:]
            out.append(Sample(text=decode(block) if decode else "", source=docs[i].source,
                              doc_id="+".join(members[:4]) + (f"+{len(members) - 4}more" if len(members) > 4 else ""),
                              input_ids=block, meta={"sampler": "packing", "n_docs": len(members)}))
            bar.update(1)
            members = [docs[i].doc_id] if buf else []
    bar.close()
    if len(out) < n:
        raise SourceError(f"source '{source_name}' has only {len(out)} blocks of {seq_len} tokens, {n} asked for",
                          hint="lower n_samples or seq_len, or add documents")
    return out


class Packing(Sampler):
    """``method: packing`` (no parameters; documents are separated by the tokenizer's EOS)."""

    def draw(self, docs: Sequence[Sample], *, n: int, seq_len: int, rng: random.Random, tokenizer: Any,
             source_name: str = "source", progress: bool = False) -> list[Sample]:
        return packing(docs, make_tokenize(tokenizer), n, seq_len, rng, tokenizer.eos_token_id, tokenizer.decode,
                       source_name, progress)
