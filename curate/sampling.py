"""Samplers: documents -> N sequences of exactly L tokens, seeded and deterministic.

    from curate.sampling import random_windows, packing
    samples = random_windows(docs, tokenizer, n=128, seq_len=2048, rng=random.Random(0))

* ``random_windows`` — the Wanda/SparseGPT convention (``get_c4`` in both repos): a random
  document with more than L tokens, then a random L-token window inside it. We walk the
  documents in a seeded random order (each document used once before any is reused) instead of
  drawing with replacement; the distribution of windows is the same, duplicates are rarer.
* ``packing`` — concatenate documents (seeded order, separated by EOS) and cut L-token blocks,
  for sources whose documents are shorter than L (Wikipedia summaries, chat turns).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence

from curate.errors import SourceError
from curate.records import Sample

Tokenize = Callable[[str], list[int]]


def make_tokenize(tokenizer) -> Tokenize:
    """Tokenize without special tokens: a calibration window is a slice of running text."""

    def tok(text: str) -> list[int]:
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    return tok


def seeded_order(docs: Sequence[Sample], rng: random.Random, source_name: str) -> list[int]:
    """Document indices in a seeded random order; an empty source is a user error."""
    if not docs:
        raise SourceError(f"source '{source_name}' is empty", hint="check its files or split")
    order = list(range(len(docs)))
    rng.shuffle(order)
    return order


def random_windows(docs: Sequence[Sample], tokenize: Tokenize, n: int, seq_len: int, rng: random.Random,
                   decode: Callable[[list[int]], str] | None = None, source_name: str = "source",
                   progress: bool = False) -> list[Sample]:
    order = seeded_order(docs, rng, source_name)
    out: list[Sample] = []
    eligible: list[tuple[int, list[int]]] = []
    longest = 0
    bar = _bar(progress, n, f"windows from {source_name}")
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


def packing(docs: Sequence[Sample], tokenize: Tokenize, n: int, seq_len: int, rng: random.Random,
            sep_id: int | None, decode: Callable[[list[int]], str] | None = None, source_name: str = "source",
            progress: bool = False) -> list[Sample]:
    order = seeded_order(docs, rng, source_name)
    out: list[Sample] = []
    buf: list[int] = []
    members: list[str] = []
    bar = _bar(progress, n, f"packing {source_name}")
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


def _bar(enabled: bool, total: int, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, disable=not enabled, leave=False)


def take_docs(it: Iterable[Sample], limit: int | None = None) -> list[Sample]:
    out = []
    for d in it:
        out.append(d)
        if limit is not None and len(out) >= limit:
            break
    return out
