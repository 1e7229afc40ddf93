"""Scorer steps: each attaches per-sample scores and puts set-level summaries in ``stats.extra``.

    from curate.context import RunContext
    from curate.steps.score import build_scorer
    step = build_scorer("min_k_pp", k=0.5, keep="highest", fraction=0.5)  # Ji et al. "detection"
    kept = step(samples, RunContext())       # sample.scores["min_k_pp"] set on every sample
    step.stats.extra["summary"]["min_k_pp"]  # {"mean": ..., "std": ..., ...}

Recipe block (``curate.steps.score.ScoreSpec``; extra keys are this class's parameters)::

    - type: score
      scorer: min_k_pp
      k: 0.5

Every scorer can also act as a selector: ``keep="highest"|"lowest"`` with ``fraction`` or
``n`` keeps that many samples ranked by the scorer's main score, and ``min``/``max`` drop
samples outside a range; the dropped count is recorded with its reason. Rounding, ties and NaN
follow the one rule of :mod:`curate.steps.select` (keep ``ceil(n * fraction)``, ties keep the
earlier sample, a NaN score is dropped as ``nan_score``).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar, Literal

import numpy as np

from curate.errors import CurateError
from curate.records import Sample
from curate.scoring import functional as F
from curate.steps.base import Step
from curate.steps.select import NAN_REASON

Keep = Literal["all", "highest", "lowest"]


class Scorer(Step):
    """Base class: :meth:`score` returns name -> (N,) values; selection and summaries are shared."""

    kind = "scorer"
    outputs: ClassVar[tuple[str, ...]] = ()  # keys written into sample.scores
    paper: ClassVar[str] = ""

    def __init__(self, name: str | None = None, *, keep: Keep = "all", fraction: float | None = None,
                 n: int | None = None, min: float | None = None, max: float | None = None,
                 by: str | None = None):
        super().__init__(name or self.registry_name())
        if keep not in ("all", "highest", "lowest"):
            raise CurateError(f"scorer {self.name}: keep={keep!r} is invalid", hint="use all, highest or lowest")
        if keep != "all" and (fraction is None) == (n is None):
            raise CurateError(f"scorer {self.name}: keep={keep} needs exactly one of fraction or n")
        if fraction is not None and not 0 < fraction <= 1:
            raise CurateError(f"scorer {self.name}: fraction={fraction} must be in (0, 1]")
        self.keep, self.fraction, self.n, self.min, self.max = keep, fraction, n, min, max
        self.by = by or (self.outputs[0] if self.outputs else None)
        if self.by is not None and self.outputs and self.by not in self.outputs:
            raise CurateError(f"scorer {self.name}: by={self.by!r} is not one of its scores",
                              hint=f"choose from {', '.join(self.outputs)}")

    @classmethod
    def registry_name(cls) -> str:
        return getattr(cls, "name_", cls.__name__)

    def score(self, samples: list[Sample], ctx: Any) -> dict[str, np.ndarray]:  # pragma: no cover
        raise NotImplementedError

    def set_summary(self, samples: list[Sample], ctx: Any) -> dict[str, Any]:
        """Set-level values beyond per-sample statistics (override where a paper defines one)."""
        return {}

    def process(self, samples: list[Sample], ctx: Any) -> list[Sample]:
        if not samples:
            return samples
        values = self.score(samples, ctx)
        for key, arr in values.items():
            for s, v in zip(samples, np.asarray(arr, dtype=np.float64).tolist(), strict=True):
                s.scores[key] = float(v)
        self.stats.extra.setdefault("summary", {}).update({k: F.summarize(v) for k, v in values.items()})
        self.stats.extra.update(self.set_summary(samples, ctx))
        return self._select(samples)

    def _select(self, samples: list[Sample]) -> list[Sample]:
        """Range filter, then keep highest/lowest by the shared rule of :mod:`curate.steps.select`."""
        if self.keep == "all" and self.min is None and self.max is None:
            return samples
        from curate.steps.select import keep_count, select_best

        by = self.by
        vals = [s.scores.get(by, math.nan) for s in samples]
        nan = {i for i, v in enumerate(vals) if math.isnan(v)}  # never ranked, never "in range"
        self.stats.drop(NAN_REASON, len(nan))
        keep = [i for i in range(len(samples)) if i not in nan]
        if self.min is not None:
            low = [i for i in keep if vals[i] < self.min]
            self.stats.drop(f"{by}_below_{self.min:g}", len(low))
            keep = [i for i in keep if vals[i] >= self.min]
        if self.max is not None:
            high = [i for i in keep if vals[i] > self.max]
            self.stats.drop(f"{by}_above_{self.max:g}", len(high))
            keep = [i for i in keep if vals[i] <= self.max]
        if self.keep != "all":
            m = self.n if self.n is not None else keep_count(len(keep), self.fraction)
            sel = select_best([vals[i] for i in keep], m, self.keep)
            dropped = len(sel.high) + len(sel.low)
            if dropped:
                pct = round(100 * dropped / len(keep))
                side = "lowest" if self.keep == "highest" else "highest"
                self.stats.drop(f"{by}_{side}_{pct}pct", dropped)
            keep = [keep[j] for j in sel.kept]
        return [samples[i] for i in keep]


# --------------------------------------------------------------------------------------------
# model-based scorers
# --------------------------------------------------------------------------------------------


class ModelScores(Scorer):
    """Perplexity, Min-K%, Min-K%++ and entropy from one forward pass per batch.

    Min-K%: Shi et al. 2024 (https://arxiv.org/abs/2310.16789). Min-K%++: Zhang et al. 2024
    (https://arxiv.org/abs/2404.02936); Ji et al. 2024 use it to show self-generated data lies
    closer to the training data. Samples with ``input_ids`` are scored as they are; text-only
    samples are tokenized with ``ctx.tokenizer`` (no special tokens), cut at ``max_length``.
    """

    name_ = "model_scores"
    outputs = ("ppl", "min_k", "min_k_pp", "entropy")

    def __init__(self, scores: Sequence[str] | None = None, k: float = 0.5, max_length: int = 2048,
                 batch_size: int | None = None, **kw: Any):
        if scores is not None:
            from curate.scoring.model_scores import MODEL_SCORES

            bad = [s for s in scores if s not in MODEL_SCORES]
            if bad:
                raise CurateError(f"unknown model score {bad[0]!r}", hint=f"choose from {', '.join(MODEL_SCORES)}")
            self.outputs = tuple(scores)
        super().__init__(**kw)
        if not 0 < k <= 1:
            raise CurateError(f"scorer {self.name}: k={k} must be a fraction in (0, 1]", hint="e.g. k: 0.2 for Min-20%")
        self.k, self.max_length, self.batch_size = k, max_length, batch_size

    def _ids(self, samples: list[Sample], ctx: Any) -> list[list[int]]:
        out: list[list[int]] = []
        need_text = [i for i, s in enumerate(samples) if not s.input_ids]
        tokenized: dict[int, list[int]] = {}
        if need_text:
            tok = ctx.tokenizer
            enc = tok([samples[i].text for i in need_text], add_special_tokens=False)["input_ids"]
            tokenized = dict(zip(need_text, enc, strict=True))
        for i, s in enumerate(samples):
            ids = list(s.input_ids) if s.input_ids else tokenized[i]
            out.append(ids[: self.max_length])
        return out

    def score(self, samples: list[Sample], ctx: Any) -> dict[str, np.ndarray]:
        from curate.models import bos_prefix
        from curate.scoring.model_scores import compute_model_scores

        ids = self._ids(samples, ctx)
        res = compute_model_scores(ctx.model, ids, scores=self.outputs, k=self.k,
                                   batch_size=self.batch_size or getattr(ctx, "batch_size", 8),
                                   progress=getattr(ctx, "progress", True), prefix=bos_prefix(ctx.tokenizer))
        self.stats.extra["k"] = self.k
        return {name: t.numpy() for name, t in res.items()}


class Perplexity(ModelScores):
    """Token-level perplexity exp(mean NLL) per sample (Ji et al. 2024 filter on it)."""

    name_ = "perplexity"
    outputs = ("ppl",)

    def __init__(self, **kw: Any):
        super().__init__(scores=("ppl",), **kw)


class MinK(ModelScores):
    """Min-K% Prob (Shi et al. 2024): mean log-prob of the k % least likely tokens."""

    name_ = "min_k"
    outputs = ("min_k",)

    def __init__(self, k: float = 0.5, **kw: Any):
        super().__init__(scores=("min_k",), k=k, **kw)


class MinKPlusPlus(ModelScores):
    """Min-K%++ (Zhang et al. 2024): mean of the lowest k % of (log p(x_t) - mu_t) / sigma_t.

    Higher means the text looks more like the model's training data (Ji et al. 2024, Sec. 4).
    """

    name_ = "min_k_pp"
    outputs = ("min_k_pp",)

    def __init__(self, k: float = 0.5, **kw: Any):
        super().__init__(scores=("min_k_pp",), k=k, **kw)


class Entropy(ModelScores):
    """Mean next-token entropy (nats) of the model along the sample."""

    name_ = "entropy"
    outputs = ("entropy",)

    def __init__(self, **kw: Any):
        super().__init__(scores=("entropy",), **kw)


# --------------------------------------------------------------------------------------------
# corpus similarity, n-gram aggregation, diversity
# --------------------------------------------------------------------------------------------


class MinHashJaccard(Scorer):
    """Closeness to a reference corpus via MinHash of word n-grams (Ji et al. 2024, Sec. 3.4).

    Per sample: ``minhash_jaccard``, the best estimated Jaccard against any reference document
    (exhaustive vectorised scan by default; MinHash-LSH candidates with ``search="lsh"``, the
    choice for references of millions of documents). Per set (``stats.extra["reference"]``):
    the Jaccard and containment of the set's n-gram set in the reference's.

    ``reference``: a bundled source name (``"wikipedia"``, ``"wikipedia:heldout"``), a folder of
    jsonl/parquet documents, a list of texts, or an iterable of Samples. Its signatures come
    from a datatrove pipeline (``executor`` local/slurm/ray) and are cached on disk.

    Recipe block::

        - type: score
          scorer: minhash_jaccard
          reference: wikipedia
          n: 3
          num_perm: 128
    """

    name_ = "minhash_jaccard"
    outputs = ("minhash_jaccard",)

    def __init__(self, reference: str | Iterable[Any] | None = None, n: int = 3, num_perm: int = 128,
                 seed: int = 1, search: Literal["auto", "scan", "lsh"] = "auto", lsh_threshold: float = 0.5,
                 executor: Literal["local", "slurm", "ray"] = "local",
                 executor_options: dict[str, Any] | None = None, cache: bool = True, **kw: Any):
        super().__init__(**kw)
        if reference is None:
            raise CurateError("scorer minhash_jaccard needs a reference corpus",
                              hint="set reference: wikipedia (a bundled source), a folder of jsonl/parquet, or a list of texts")
        if search not in ("auto", "scan", "lsh"):
            raise CurateError(f"scorer minhash_jaccard: search={search!r} is invalid", hint="use auto, scan or lsh")
        from curate.scoring.minhash import MinHasher

        self.reference = reference if isinstance(reference, str) else list(reference)
        self.hasher = MinHasher(n=n, num_perm=num_perm, seed=seed)
        self.search, self.lsh_threshold = search, lsh_threshold
        self.executor, self.executor_options, self.cache = executor, executor_options, cache
        self._index = None

    @property
    def index(self):
        if self._index is None:
            from curate.scoring.minhash import ReferenceIndex

            self._index = ReferenceIndex.build(self.reference, self.hasher, cache=self.cache,
                                               executor=self.executor, executor_options=self.executor_options)
        return self._index

    def score(self, samples: list[Sample], ctx: Any) -> dict[str, np.ndarray]:
        sigs = self.hasher.signatures(s.text for s in samples)
        index = self.index
        lsh = self.search == "lsh" or (self.search == "auto" and len(index) * len(samples) > 2e9)
        best, _ = (index.lsh_best_match(sigs, self.lsh_threshold) if lsh else index.best_match(sigs))
        self.stats.extra["search"] = "lsh" if lsh else "scan"
        return {"minhash_jaccard": best}

    def set_summary(self, samples: list[Sample], ctx: Any) -> dict[str, Any]:
        sim = self.index.set_similarity([s.text for s in samples])
        return {"reference": {"corpus": self.index.description, **self.hasher.params, **sim}}


class NgramAggregation(Scorer):
    """n-gram aggregation (Xu et al. 2026): how concentrated the set's 4-grams are.

    Per sample: ``ngram_repeat_contrib`` (its occurrences of n-grams shared with another sample,
    over all occurrences of the set: these sum to the set's share) and ``ngram_repeat_share``
    (the same over its own occurrences). Per set: ``repeat_share`` and ``top_k_share``.

    Recipe block::

        - type: score
          scorer: ngram_aggregation
          n: 4
          top_k: 10
    """

    name_ = "ngram_aggregation"
    outputs = ("ngram_repeat_contrib", "ngram_repeat_share")

    def __init__(self, n: int = 4, top_k: int = 10, **kw: Any):
        super().__init__(**kw)
        self.ngram_n, self.top_k = n, top_k
        self._agg: dict[str, Any] = {}

    def score(self, samples: list[Sample], ctx: Any) -> dict[str, np.ndarray]:
        self._agg = F.ngram_aggregation([s.text for s in samples], n=self.ngram_n, top_k=self.top_k)
        return {"ngram_repeat_contrib": np.array(self._agg["contrib"]),
                "ngram_repeat_share": np.array(self._agg["sample_repeat_share"])}

    def set_summary(self, samples: list[Sample], ctx: Any) -> dict[str, Any]:
        agg = {k: v for k, v in self._agg.items() if k not in ("contrib", "sample_repeat_share")}
        return {"aggregation": agg}


class Diversity(Scorer):
    """Diversity and lexical statistics: length, distinct-n, Zipf diversity, near-duplicates.

    distinct-n: Li et al. 2016 (https://arxiv.org/abs/1510.03055). Zipf diversity: 1 / s where
    s is the fitted exponent of the rank-frequency law (lower s = flatter = more diverse).
    Near-duplicates: MinHash-LSH over word ``dedup_n``-grams at ``dedup_threshold``.

    Recipe block::

        - type: score
          scorer: diversity
          dedup_threshold: 0.8
    """

    name_ = "diversity"
    outputs = ("words", "chars", "distinct_1", "distinct_2", "zipf_diversity", "near_dups")

    def __init__(self, dedup_threshold: float = 0.8, dedup_n: int = 3, num_perm: int = 128, **kw: Any):
        super().__init__(**kw)
        from curate.scoring.minhash import MinHasher

        self.dedup_threshold = dedup_threshold
        self.hasher = MinHasher(n=dedup_n, num_perm=num_perm)
        self._tokens: list[list[str]] = []
        self._dups: list[list[int]] = []

    def score(self, samples: list[Sample], ctx: Any) -> dict[str, np.ndarray]:
        from curate.scoring.minhash import near_duplicates

        toks = [F.words(s.text) for s in samples]
        self._tokens = toks
        self._dups = near_duplicates(self.hasher.signatures(s.text for s in samples), self.hasher,
                                     self.dedup_threshold)
        out = {
            "words": np.array([len(t) for t in toks], dtype=np.float64),
            "chars": np.array([len(s.text) for s in samples], dtype=np.float64),
            "distinct_1": np.array([F.distinct_n([t], 1) for t in toks]),
            "distinct_2": np.array([F.distinct_n([t], 2) for t in toks]),
            "zipf_diversity": np.array([F.zipf_diversity(t) for t in toks]),
            "near_dups": np.array([len(d) for d in self._dups], dtype=np.float64),
        }
        if all(s.input_ids for s in samples):
            out["tokens"] = np.array([len(s.input_ids) for s in samples], dtype=np.float64)
        return out

    def set_summary(self, samples: list[Sample], ctx: Any) -> dict[str, Any]:
        all_tokens = [w for t in self._tokens for w in t]
        pairs = sum(len(d) for d in self._dups) // 2
        # Clusters: connected components of the near-duplicate graph with more than one member.
        parent = list(range(len(self._dups)))

        def find(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        for i, d in enumerate(self._dups):
            for j in d:
                parent[find(i)] = find(j)
        sizes: dict[int, int] = {}
        for i in range(len(parent)):
            sizes[find(i)] = sizes.get(find(i), 0) + 1
        redundant = sum(v - 1 for v in sizes.values() if v > 1)
        return {"diversity": {
            "distinct_1": F.distinct_n(self._tokens, 1), "distinct_2": F.distinct_n(self._tokens, 2),
            "distinct_4": F.distinct_n(self._tokens, 4),
            "zipf_exponent": F.zipf_exponent(all_tokens), "zipf_diversity": F.zipf_diversity(all_tokens),
            "near_dup_pairs": pairs, "near_dup_clusters": sum(1 for v in sizes.values() if v > 1),
            "near_dup_redundant": redundant, "dedup_threshold": self.dedup_threshold,
        }}


def check_params(cls: type, params: dict[str, Any], name: str) -> None:
    """Fail on a misspelled scorer parameter with the valid ones (and a did-you-mean)."""
    import difflib

    allowed: set[str] = set()
    for klass in cls.__mro__:
        if klass in (object, Step):
            continue
        sig = inspect.signature(klass.__init__)
        allowed |= {p for p, v in sig.parameters.items() if p != "self" and v.kind not in (v.VAR_KEYWORD, v.VAR_POSITIONAL)}
    for key in params:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"valid: {', '.join(sorted(allowed))}"
            raise CurateError(f"scorer '{name}' has no parameter '{key}'", hint=hint)
