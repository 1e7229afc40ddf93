"""Score sets and sources side by side: per-sample parquet, JSON + markdown summary, plots.

    from curate.score import ScoreConfig, score_inputs, write_report
    cfg = ScoreConfig(scores=("ppl", "min_k_pp", "ngram_aggregation", "diversity"), n=32, seq_len=256)
    scored = score_inputs(["wikipedia", "out/default/v1.0.0"], cfg)
    write_report(scored, "runs/scores", cfg)     # scores.parquet, summary.json/.md, plots/*.png

An input is a curate set (any folder or file :func:`curate.sets.read.load_set` reads) or the name
of a bundled source (``wikipedia``, ``shakespeare``, ...; ``name:heldout`` for its held-out
split), from which ``n`` sequences of ``seq_len`` tokens are drawn with the project's samplers.
Scores of a versioned set can be stored in its ``extras/scores/`` folder, which is never part of
the set's fingerprint (the data files and ``manifest.json`` are not touched).
"""

from __future__ import annotations

import json
import math
import random
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from curate.errors import CurateError
from curate.markdown import md_table
from curate.records import Sample

MODEL_KEYS = ("ppl", "min_k", "min_k_pp", "entropy")
ALIASES = {"perplexity": "ppl", "mink": "min_k", "mink++": "min_k_pp", "min_k++": "min_k_pp"}
DEFAULT_SCORES = ("ppl", "min_k", "min_k_pp", "entropy", "ngram_aggregation", "diversity")
# Per-sample columns drawn in the plots and the markdown table, in this order.
HEADLINE = ("ppl", "min_k", "min_k_pp", "entropy", "minhash_jaccard", "ngram_repeat_share", "distinct_2",
            "zipf_diversity", "tokens", "words")


@dataclass
class ScoreConfig:
    model: str = "smollm2-135m"
    scores: tuple[str, ...] = DEFAULT_SCORES
    reference: str | None = None  # adds minhash_jaccard when set
    k: float = 0.5
    n: int = 32
    seq_len: int = 256
    seed: int = 0
    split: str = "calibration"
    batch_size: int = 8
    device: str | None = None
    dtype: str = "float32"
    ngram: int = 3
    num_perm: int = 128
    retokenize: bool = False
    progress: bool = True

    def __post_init__(self):
        import math

        from curate.errors import CurateError
        from prune_backend.config import check_device

        if not (math.isfinite(self.k) and 0 < self.k <= 1):
            raise CurateError(f"--k {self.k} must be a fraction in (0, 1]", hint="e.g. --k 0.2 for Min-K% at 20 %")
        try:
            check_device(self.device)
        except ValueError as exc:
            raise CurateError(f"--device: {exc}") from None

    def normalized_scores(self) -> list[str]:
        names = [ALIASES.get(s, s) for s in self.scores]
        if self.reference and "minhash_jaccard" not in names:
            names.append("minhash_jaccard")
        return list(dict.fromkeys(names))


@dataclass
class ScoredSet:
    name: str
    kind: str  # "set" or "source"
    samples: list[Sample]
    summary: dict[str, Any] = field(default_factory=dict)  # per score: mean/std/...
    set_level: dict[str, Any] = field(default_factory=dict)  # aggregation, diversity, reference
    path: Path | None = None  # version folder of a curate set
    fingerprint: str | None = None


# --------------------------------------------------------------------------------------------
# inputs
# --------------------------------------------------------------------------------------------


def source_samples(name: str, tokenizer, n: int, seq_len: int, seed: int, split: str = "calibration",
                   progress: bool = False) -> list[Sample]:
    """``n`` sequences of ``seq_len`` tokens from a bundled source, with curate's samplers.

    Random windows (the Wanda/SparseGPT convention) when the source has long documents,
    EOS-separated packing when its documents are shorter than a window (Wikipedia summaries,
    chat turns, math problems).
    """
    from curate.sampling import make_tokenize, packing, random_windows
    from curate.sources import iter_source

    docs = list(iter_source(name, split=split))
    tokenize = make_tokenize(tokenizer)
    decode = lambda ids: tokenizer.decode(ids)  # noqa: E731
    rng = random.Random(seed)
    # Characters bound tokens from above for every tokenizer we ship: a cheap pre-filter.
    long_docs = [d for d in docs if len(d.text) > 4 * seq_len]
    if len(long_docs) >= min(n, 8):
        return random_windows(long_docs, tokenize, n, seq_len, rng, decode=decode, source_name=name, progress=progress)
    return packing(docs, tokenize, n, seq_len, rng, sep_id=tokenizer.eos_token_id, decode=decode,
                   source_name=name, progress=progress)


def load_input(spec: str, cfg: ScoreConfig, ctx) -> ScoredSet:
    """A set path or a bundled source name -> samples to score."""
    from curate.sets.read import load_set

    p = Path(spec).expanduser()
    if p.exists():
        cs = load_set(p)
        samples = [Sample.from_row(r) for r in cs.dataset]
        if any(s.input_ids for s in samples) and cs.tokenizer_fingerprint and _needs_model(cfg):
            from curate.models import tokenizer_fingerprint

            fp = ctx.model_info.tokenizer if ctx.model_info else tokenizer_fingerprint(ctx.tokenizer)
            cs.check_tokenizer(fp, retokenize=cfg.retokenize)
            if cfg.retokenize and fp != cs.tokenizer_fingerprint:
                for s in samples:
                    s.input_ids = None  # re-tokenized from text by the model scorer
        for s in samples:
            s.scores = {}  # score afresh; stored score_* columns describe the build, not this run
        return ScoredSet(cs.name, "set", samples, path=cs.path if cs.manifest else None,
                         fingerprint=cs.fingerprint if cs.manifest else None)
    name, _, split = spec.partition(":")
    from curate.sources import SOURCES

    if name in SOURCES:
        samples = source_samples(name, ctx.tokenizer, cfg.n, cfg.seq_len, cfg.seed, split or cfg.split,
                                 progress=cfg.progress)
        return ScoredSet(spec, "source", samples)
    close = SOURCES.names()
    raise CurateError(f"'{spec}' is neither a calibration set folder nor a bundled source",
                      hint=f"pass a folder printed by 'curate build' or one of: {', '.join(close)}")


def _needs_model(cfg: ScoreConfig) -> bool:
    return any(s in MODEL_KEYS or s in ("model_scores", "expert_coverage") for s in cfg.normalized_scores())


# --------------------------------------------------------------------------------------------
# scoring
# --------------------------------------------------------------------------------------------


def make_scorers(cfg: ScoreConfig) -> list:
    """One ModelScores step for every model score (one forward pass), then the others."""
    from curate.steps.score import build_scorer

    names = cfg.normalized_scores()
    model_keys = [s for s in names if s in MODEL_KEYS]
    steps = []
    if model_keys:
        steps.append(build_scorer("model_scores", scores=tuple(model_keys), k=cfg.k, max_length=max(cfg.seq_len, 2048),
                                  batch_size=cfg.batch_size))
    for s in names:
        if s in MODEL_KEYS:
            continue
        if s == "minhash_jaccard":
            if not cfg.reference:
                raise CurateError("minhash_jaccard needs a reference corpus", hint="pass --reference wikipedia (or a folder)")
            steps.append(build_scorer(s, reference=cfg.reference, n=cfg.ngram, num_perm=cfg.num_perm))
        elif s == "diversity":
            steps.append(build_scorer(s, dedup_n=cfg.ngram, num_perm=cfg.num_perm))
        else:
            steps.append(build_scorer(s))
    return steps


def score_set(scored: ScoredSet, cfg: ScoreConfig, ctx, scorers: list | None = None) -> ScoredSet:
    """Run every scorer over one set's samples (no selection) and collect the summaries."""
    for step in scorers if scorers is not None else make_scorers(cfg):
        step.stats.extra = {}
        step(scored.samples, ctx)
        extra = dict(step.stats.extra)
        scored.summary.update(extra.pop("summary", {}))
        scored.set_level.update(extra)
    return scored


def score_inputs(specs: list[str], cfg: ScoreConfig, ctx=None) -> list[ScoredSet]:
    """Load and score every input with one shared model context (loaded once, if needed)."""
    from curate.context import RunContext

    if not specs:
        raise CurateError("nothing to score", hint="pass one or more set folders or source names")
    ctx = ctx or RunContext(model_name=cfg.model, device=cfg.device, dtype=cfg.dtype, seed=cfg.seed,
                            batch_size=cfg.batch_size, progress=cfg.progress)
    scorers = make_scorers(cfg)  # shared: the MinHash reference index is built once
    return [score_set(load_input(s, cfg, ctx), cfg, ctx, scorers) for s in specs]


# --------------------------------------------------------------------------------------------
# outputs
# --------------------------------------------------------------------------------------------


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "set"


def samples_frame(scored: ScoredSet):
    """Per-sample polars frame: set, source, doc_id, n_tokens, text preview, every score."""
    import polars as pl

    keys = sorted({k for s in scored.samples for k in s.scores})
    rows = {"set": [scored.name] * len(scored.samples), "source": [s.source for s in scored.samples],
            "doc_id": [s.doc_id for s in scored.samples],
            "n_tokens": [len(s.input_ids or []) for s in scored.samples],
            "text": [s.text[:500] for s in scored.samples]}
    for k in keys:
        rows[k] = [float(s.scores.get(k, math.nan)) for s in scored.samples]
    return pl.DataFrame(rows)


def summary_dict(scored_sets: list[ScoredSet], cfg: ScoreConfig) -> dict[str, Any]:
    return {
        "config": asdict(cfg),
        "sets": [{"name": s.name, "kind": s.kind, "path": str(s.path) if s.path else None,
                  "fingerprint": s.fingerprint, "n_samples": len(s.samples), "scores": s.summary,
                  **s.set_level} for s in scored_sets],
    }


def _fmt(x: Any) -> str:
    if isinstance(x, float):
        if math.isnan(x):
            return "–"
        return f"{x:.4g}" if abs(x) < 1e4 else f"{x:.3e}"
    return str(x)


def markdown_table(scored_sets: list[ScoredSet]) -> str:
    """One row per set: mean ± std of the headline per-sample scores, then set-level numbers."""
    cols = [c for c in HEADLINE if any(c in s.summary for s in scored_sets)]
    set_cols: list[tuple[str, str, str]] = []
    for group, key, label in (("aggregation", "repeat_share", "4-gram repeat share"),
                              ("aggregation", "top_k_share", "top-10 4-gram share"),
                              ("diversity", "distinct_2", "set distinct-2"),
                              ("diversity", "zipf_exponent", "Zipf s"),
                              ("diversity", "near_dup_pairs", "near-dup pairs"),
                              ("reference", "jaccard", "ref. Jaccard"),
                              ("reference", "containment", "ref. containment"),
                              ("expert_coverage", "entropy_mean", "expert load entropy"),
                              ("expert_coverage", "experts_under_min", "experts < min tokens")):
        if any(key in (s.set_level.get(group) or {}) for s in scored_sets):
            set_cols.append((group, key, label))
    head = ["set", "n"] + [f"{c} (mean ± std)" for c in cols] + [c[2] for c in set_cols]
    rows = []
    for s in scored_sets:
        cells = [s.name, str(len(s.samples))]
        for c in cols:
            st = s.summary.get(c)
            cells.append(f"{_fmt(st['mean'])} ± {_fmt(st['std'])}" if st else "–")
        for group, key, _ in set_cols:
            cells.append(_fmt((s.set_level.get(group) or {}).get(key, math.nan)))
        rows.append(cells)
    return md_table(head, rows, cell=str)


def summary_markdown(scored_sets: list[ScoredSet], cfg: ScoreConfig) -> str:
    notes = [
        "# Calibration set scores", "",
        f"Model `{cfg.model}`; Min-K% / Min-K%++ with k = {cfg.k:g}; sources drawn as {cfg.n} x {cfg.seq_len} "
        f"tokens (seed {cfg.seed}, split {cfg.split}).", "",
        markdown_table(scored_sets), "",
        "- ppl: exp of the mean token NLL. min_k: mean log-prob of the lowest k of tokens (Shi et al. 2024). "
        "min_k_pp: Min-K%++ (Zhang et al. 2024); higher = closer to what the model was trained on (Ji et al. 2024).",
        "- entropy: mean next-token entropy (nats). minhash_jaccard: best MinHash Jaccard of word "
        f"{cfg.ngram}-grams against any reference document; ref. Jaccard/containment: of the set's n-gram set "
        "with the reference's (Ji et al. 2024, Sec. 3.4).",
        "- 4-gram repeat share: share of 4-gram occurrences repeated across samples (Xu et al. 2026); "
        "distinct-2: Li et al. 2016; Zipf s: fitted rank-frequency exponent (lower = more diverse).",
    ]
    return "\n".join(notes) + "\n"


def plot_distributions(scored_sets: list[ScoredSet], out_dir: Path) -> list[Path]:
    """One PNG per headline score: histograms of every set, overlaid when several."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for key in HEADLINE:
        series = [(s.name, np.array([x.scores.get(key, np.nan) for x in s.samples], dtype=float)) for s in scored_sets]
        series = [(n, v[np.isfinite(v)]) for n, v in series if np.isfinite(v).any()]
        if not series:
            continue
        fig, ax = plt.subplots(figsize=(6.4, 3.8))
        lo = min(v.min() for _, v in series)
        hi = max(v.max() for _, v in series)
        bins = np.linspace(lo, hi if hi > lo else lo + 1, 25)
        # Filled bars stay readable for one or two sets; outlines beyond that.
        style = {"histtype": "step", "linewidth": 1.6} if len(series) > 2 else {"alpha": 0.5 if len(series) > 1 else 0.9}
        for name, v in series:
            ax.hist(v, bins=bins.tolist(), label=f"{name} (mean {v.mean():.3g})", **style)
        ax.set_xlabel(key)
        ax.set_ylabel("samples")
        ax.set_title(f"{key} per sample")
        ax.legend(fontsize=7)
        fig.tight_layout()
        p = out_dir / f"{key}.png"
        fig.savefig(p, dpi=110)
        plt.close(fig)
        paths.append(p)
    return paths


def write_report(scored_sets: list[ScoredSet], out_dir: str | Path, cfg: ScoreConfig) -> dict[str, Any]:
    """Write ``scores.parquet`` (+ one parquet per set), ``summary.json``, ``summary.md``, ``plots/``."""
    import polars as pl

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    frames = []
    per_set = {}
    for s in scored_sets:
        df = samples_frame(s)
        p = out / f"{_slug(s.name)}.parquet"
        df.write_parquet(p)
        per_set[s.name] = str(p)
        frames.append(df)
    pl.concat(frames, how="diagonal_relaxed").write_parquet(out / "scores.parquet")
    summary = summary_dict(scored_sets, cfg)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=_json_default))
    (out / "summary.md").write_text(summary_markdown(scored_sets, cfg))
    plots = plot_distributions(scored_sets, out / "plots")
    return {"parquet": str(out / "scores.parquet"), "per_set": per_set, "summary_json": str(out / "summary.json"),
            "summary_md": str(out / "summary.md"), "plots": [str(p) for p in plots]}


def store_beside(scored: ScoredSet, cfg: ScoreConfig) -> Path:
    """Write one versioned set's scores into ``<version>/extras/scores/`` (fingerprint untouched)."""
    from curate.sets.layout import EXTRAS

    if scored.path is None:
        raise CurateError(f"{scored.name} is not a curate set version", hint="only 'curate build' outputs have an extras/ folder")
    target = scored.path / EXTRAS / "scores"
    target.mkdir(parents=True, exist_ok=True)
    samples_frame(scored).write_parquet(target / "samples.parquet")
    (target / "summary.json").write_text(json.dumps(summary_dict([scored], cfg), indent=2, default=_json_default))
    (target / "summary.md").write_text(summary_markdown([scored], cfg))
    if "expert_coverage" in scored.set_level:
        from curate.moe.coverage_io import store_coverage

        store_coverage(scored.path, scored.set_level["expert_coverage"], model=cfg.model)
    return target


def _json_default(o: Any):
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, (set, tuple)):
        return list(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


__all__ = ["ScoreConfig", "ScoredSet", "score_inputs", "score_set", "write_report", "store_beside",
           "markdown_table", "source_samples"]
