"""Random windows, the Wanda/SparseGPT convention (``get_c4`` in both repos).

    - {type: sample, method: random_windows}

A random document with more than L tokens, then a random L-token window inside it. We walk the
documents in a seeded random order (each document used once before any is reused) instead of
drawing with replacement; the distribution of windows is the same, duplicates are rarer.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

from curate.errors import SourceError
from curate.records import Sample
from curate.sampling.base import Sampler, Tokenize, make_tokenize, progress_bar, seeded_order


def random_windows(docs: Sequence[Sample], tokenize: Tokenize, n: int, seq_len: int, rng: random.Random,
                   decode: Callable[[list[int]], str] | None = None, source_name: str = "source",
                   progress: bool = False) -> list[Sample]:
    order = seeded_order(docs, rng, source_name)
    out: list[Sample] = []
    eligible: list[tuple[int, list[int]]] = []
    longest = 0
    bar = progress_bar(progress, n, f"windows from {source_name}")
    for i in order:
        if len(out) >= n:
            break
        ids = tokenize(docs[i].text)
        longest = max(longest, len(ids))
        if len(ids) <= seq_len:  # Wanda: `if trainenc.input_ids.shape[1] > seqlen: break`
            continue
        eligible.append((i, ids))
        out.append(_window(docs[i], ids, rng, seq_len, decode))
        bar.update(1)
    if not eligible:
        bar.close()
        raise SourceError(
            f"no document of source '{source_name}' is longer than seq_len={seq_len} tokens (longest: {longest})",
            hint="lower seq_len or use 'sample: {method: packing}'")
    # Fewer long documents than samples asked for: take further windows from them, round-robin.
    j = 0
    while len(out) < n:
        i, ids = eligible[j % len(eligible)]
        out.append(_window(docs[i], ids, rng, seq_len, decode))
        bar.update(1)
        j += 1
    bar.close()
    return out


def _window(doc: Sample, ids: list[int], rng: random.Random, seq_len: int, decode) -> Sample:
    start = rng.randint(0, len(ids) - seq_len - 1)
    window = ids[start:start + seq_len]
    text = decode(window) if decode else doc.text
    return Sample(text=text, source=doc.source, doc_id=f"{doc.doc_id}@{start}", input_ids=window,
                  meta={"offset": start, "sampler": "random_windows"})


class RandomWindows(Sampler):
    """``method: random_windows`` (no parameters)."""

    def draw(self, docs: Sequence[Sample], *, n: int, seq_len: int, rng: random.Random, tokenizer: Any,
             source_name: str = "source", progress: bool = False) -> list[Sample]:
        return random_windows(docs, make_tokenize(tokenizer), n, seq_len, rng, tokenizer.decode, source_name,
                              progress)
