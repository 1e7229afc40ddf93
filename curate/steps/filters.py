"""Filter steps: perplexity (Ji et al. 2024), length, near-duplicates, datatrove quality filters.

    steps:
      - {type: perplexity_filter, drop_top: 0.2}   # drop the 20 % highest-perplexity generations
      - {type: dedup, threshold: 0.8}             # MinHash near-duplicates on word 3-grams
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

from pydantic import Field

from curate.records import Sample
from curate.steps.base import Filter, Stage, Step, StepSpec
from curate.steps.select import drop_count, rank_select


def ensure_ppl(samples: list[Sample], ctx: Any) -> list[float]:
    """Perplexity of each sample under ``ctx.model``; computed in one batched pass (no lm_head
    beyond the chunks the score needs) only for the samples that do not carry it yet."""
    import torch

    from curate.models import bos_prefix
    from curate.scoring import compute_model_scores

    missing = [s for s in samples if "ppl" not in s.scores]
    if missing:
        ids = [torch.tensor(s.input_ids, dtype=torch.long) for s in missing]
        ppl = compute_model_scores(ctx.model, ids, scores=("ppl",), batch_size=ctx.batch_size,
                                   progress=ctx.progress, prefix=bos_prefix(ctx.tokenizer))["ppl"].tolist()
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
        real = sum(1 for v in values if not math.isnan(v))
        # The shared rule (curate.steps.select): floor(n * fraction) of the n real perplexities
        # at each end; a NaN perplexity (nothing predicted) is dropped as nan_score.
        sel = rank_select(values, drop_high=drop_count(real, self.spec.drop_top),
                          drop_low=drop_count(real, self.spec.drop_bottom))
        sel.count_nan(self.stats)
        self.stats.drop(f"ppl_top_{round(self.spec.drop_top * 100)}pct", len(sel.high))
        self.stats.drop(f"ppl_bottom_{round(self.spec.drop_bottom * 100)}pct", len(sel.low))
        if sel.high:
            self.stats.extra["ppl_threshold"] = min(values[i] for i in sel.high)
        return [samples[i] for i in sel.kept]


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
    """Near-duplicate removal: a sample is dropped when it is a near-duplicate of an earlier kept
    one, by the same MinHasher and the same pair rule as the ``diversity`` scorer's
    ``near_dups`` (:func:`curate.scoring.minhash.near_duplicates`: MinHash-LSH candidates over
    word ``ngram``-grams whose estimated Jaccard is >= ``threshold``). So a set deduplicated at
    0.8 reports no near-duplicate pair at 0.8."""

    kind = "filter"

    def __init__(self, spec, **_):
        super().__init__(name="dedup")
        self.spec = spec

    def process(self, samples: list[Sample], ctx: Any) -> list[Sample]:
        from curate.scoring.minhash import MinHasher, dedup_keep

        hasher = MinHasher(n=self.spec.ngram, num_perm=self.spec.num_perm)
        keep = dedup_keep(hasher.signatures(s.text for s in samples), hasher, self.spec.threshold)
        self.stats.drop("near_duplicate", len(samples) - len(keep))
        return [samples[i] for i in keep]


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
    """Drop floor(n * ``drop_top``) highest-perplexity samples (Ji et al. 2024: 20 %) and floor(n *
    ``drop_bottom``) lowest; NaN perplexities are dropped as ``nan_score`` (curate.steps.select)."""

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
    """Drop near-duplicate samples: estimated Jaccard of word ``ngram``-grams >= ``threshold``
    (the same rule as the diversity scorer's ``near_dups``)."""

    type: Literal["dedup"]
    threshold: float = Field(default=0.8, gt=0, le=1)
    ngram: int = Field(default=3, ge=1)
    num_perm: int = Field(default=128, ge=16)


class QualityFilterSpec(StepSpec):
    """datatrove document filters (Gopher quality/repetition, FineWeb, C4) on raw documents."""

    type: Literal["quality_filter"]
    filters: list[Literal["gopher_quality", "gopher_repetition", "fineweb_quality", "c4_quality"]] = ["gopher_quality"]
    stage: ClassVar[Stage] = "document"
