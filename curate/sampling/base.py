"""What every sampler shares: the :class:`Sampler` contract, tokenizing, the seeded document order."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

from curate.errors import SourceError
from curate.records import Sample
from curate.registry import Spec

Tokenize = Callable[[str], list[int]]


class Sampler(Spec):
    """A sampler's parameters (the extra keys of its ``{type: sample, method: ...}`` block) and
    :meth:`draw`, which cuts ``n`` samples of exactly ``seq_len`` tokens from the documents."""

    def draw(self, docs: Sequence[Sample], *, n: int, seq_len: int, rng: random.Random, tokenizer: Any,
             source_name: str = "source", progress: bool = False) -> list[Sample]:  # pragma: no cover
        raise NotImplementedError


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


def progress_bar(enabled: bool, total: int, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, disable=not enabled, leave=False)
