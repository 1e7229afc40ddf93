"""Filter steps: perplexity (Ji et al. 2024), length, near-duplicates, datatrove quality filters.

    steps:
      - {type: perplexity_filter, drop_top: 0.2}   # drop the 20 % highest-perplexity generations
      - {type: dedup, threshold: 0.8}             # MinHash-LSH near-duplicates on word 3-grams
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

from pydantic import Field

from curate.records import Sample
from curate.steps.base import Filter, Stage, Step, StepSpec


def rank_drop(values: list[float], drop_top: float, drop_bottom: float = 0.0) -> tuple[set[int], set[int]]:
    """Indices to drop: the ``drop_top`` fraction with the highest values and ``drop_bottom`` with
    the lowest (floor of the fraction, ties broken by index so the result is deterministic)."""
    n = len(values)
    order = sorted(range(n), key=lambda i: (values[i], i))
    n_top, n_bot = math.floor(n * drop_top + 1e-9), math.floor(n * drop_bottom + 1e-9)
    top = set(order[n - n_top:]) if n_top else set()
    bottom = set(order[:n_bot]) if n_bot else set()
    return top, bottom - top


def ensure_ppl(samples: list[Sample], ctx: Any) -> list[float]:
    """Perplexity of each sample under ``ctx.model``; computed in one batched pass (no lm_head
    beyond the chunks the score needs) only for the samples that do not carry it yet."""
    import torch

    from curate.scoring import compute_model_scores

    missing = [s for s in samples if "ppl" not in s.scores]
    if missing:
        ids = [torch.tensor(s.input_ids, dtype=torch.long) for s in missing]
        ppl = compute_model_scores(ctx.model, ids, scores=("ppl",), batch_size=ctx.batch_size,
                                   progress=ctx.progress)["ppl"].tolist()
        for s, v in zip(missing, ppl, strict=True):
            s.scores["ppl"] = float(v)
    return [s.scores["ppl"] for s in samples]


class PerplexityFilter(Step):
    """Drop the highest-perplexity samples: Ji et al. 2024 filter out the top 20 % of
    self-generated texts by perplexity under the model, removing degenerate generations."""

    kind = "filter"

    def __init__(self, spec, **_):
        super().__init__(name="perplexity_filter")
        self.spec = spec

    def process(self, samples: list[Sample], ctx: Any) -> list[Sample]:
        values = ensure_ppl(samples, ctx)
        top, bottom = rank_drop(values, self.spec.drop_top, self.spec.drop_bottom)
        self.stats.drop(f"ppl_top_{round(self.spec.drop_top * 100)}pct", len(top))
        self.stats.drop(f"ppl_bottom_{round(self.spec.drop_bottom * 100)}pct", len(bottom))
        if top:
            self.stats.extra["ppl_threshold"] = min(values[i] for i in top)
        return [s for i, s in enumerate(samples) if i not in top and i not in bottom]


class LengthFilter(Filter):
    def __init__(self, spec, **_):
        super().__init__(name="length_filter")
        self.spec = spec

    def keep(self, sample: Sample, ctx: Any) -> bool | str:
        n = len(sample.text)
        if n < self.spec.min_chars:
            return "too_few_chars"
        if self.spec.max_chars is not None and n > self.spec.max_chars:
            return "too_many_chars"
        if self.spec.min_words and len(sample.text.split()) < self.spec.min_words:
            return "too_few_words"
        return True


class DedupFilter(Step):
    """Near-duplicate removal with datasketch's MinHashLSH over word n-gram shingles: a sample is
    dropped when its estimated Jaccard with an earlier kept sample exceeds ``threshold``."""

    kind = "filter"

    def __init__(self, spec, **_):
        super().__init__(name="dedup")
        self.spec = spec

    def process(self, samples: list[Sample], ctx: Any) -> list[Sample]:
        from datasketch import MinHash, MinHashLSH

        from curate.scoring.functional import ngrams, words

        lsh = MinHashLSH(threshold=self.spec.threshold, num_perm=self.spec.num_perm)
        out = []
        for i, s in enumerate(samples):
            shingles = {" ".join(g) for g in ngrams(words(s.text), self.spec.ngram)} or {s.text}
            m = MinHash(num_perm=self.spec.num_perm, seed=1)
            m.update_batch([g.encode() for g in shingles])
            if lsh.query(m):
                self.stats.drop("near_duplicate")
                continue
            lsh.insert(str(i), m)
            out.append(s)
        return out


class QualityFilter(Filter):
    """datatrove's document filters (Gopher quality/repetition, FineWeb, C4) applied to raw
    documents before sampling; the reason each filter gives is counted."""

    def __init__(self, spec, **_):
        super().__init__(name="quality_filter")
        self.spec = spec
        self._filters = None

    def _build(self):
        from curate.errors import requires

        requires("datatrove", what="quality_filter")
        from datatrove.pipeline.filters import (
            C4QualityFilter,
            FineWebQualityFilter,
            GopherQualityFilter,
            GopherRepetitionFilter,
        )

        make = {"gopher_quality": GopherQualityFilter, "gopher_repetition": GopherRepetitionFilter,
                "fineweb_quality": FineWebQualityFilter, "c4_quality": C4QualityFilter}
        return [(n, make[n]()) for n in self.spec.filters]

    def keep(self, sample: Sample, ctx: Any) -> bool | str:
        from datatrove.data import Document

        if self._filters is None:
            self._filters = self._build()
        doc = Document(text=sample.text, id=sample.doc_id)
        for name, f in self._filters:
            res = f.filter(doc)
            ok, reason = (res if isinstance(res, tuple) else (res, None))
            if not ok:
                return f"{name}:{reason or 'rejected'}"
        return True


# --------------------------------------------------------------------------- recipe blocks
class PerplexityFilterSpec(StepSpec):
    """Drop the ``drop_top`` fraction of highest-perplexity samples (Ji et al. 2024: 20 %)."""

    type: Literal["perplexity_filter"]
    drop_top: float = Field(default=0.2, ge=0, lt=1)
    drop_bottom: float = Field(default=0.0, ge=0, lt=1)


class LengthFilterSpec(StepSpec):
    """Drop documents shorter than ``min_chars`` / ``min_words`` (before sampling)."""

    type: Literal["length_filter"]
    min_chars: int = Field(default=0, ge=0)
    min_words: int = Field(default=0, ge=0)
    max_chars: int | None = Field(default=None, gt=0)
    stage: ClassVar[Stage] = "document"


class DedupSpec(StepSpec):
    """Drop near-duplicate samples (MinHash-LSH on word n-grams above ``threshold``)."""

    type: Literal["dedup"]
    threshold: float = Field(default=0.8, gt=0, le=1)
    ngram: int = Field(default=3, ge=1)
    num_perm: int = Field(default=128, ge=16)


class QualityFilterSpec(StepSpec):
    """datatrove document filters (Gopher quality/repetition, FineWeb, C4) on raw documents."""

    type: Literal["quality_filter"]
    filters: list[Literal["gopher_quality", "gopher_repetition", "fineweb_quality", "c4_quality"]] = ["gopher_quality"]
    stage: ClassVar[Stage] = "document"
