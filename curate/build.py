"""``curate build``: a recipe -> a versioned calibration dataset.

    from curate.build import build_recipe
    from curate.recipe import load_recipe
    result = build_recipe(load_recipe("default"), out_dir="out", seed=0)
    print(result.path, result.manifest["fingerprint"])

Order of work: validate everything cheap first (recipe, model id, source files), so that bad
input fails before any model is loaded or any folder is created; then run each component
(source -> document filters -> producer -> sample steps, trimmed to its exact count), the
set-level steps over their union, and write the version atomically.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from curate import __version__
from curate.context import RunContext
from curate.errors import SourceError
from curate.recipe import ComponentSpec, Recipe
from curate.records import Sample
from curate.sets.layout import MANIFEST
from curate.steps.base import Step, StepStats

DEFAULT_PAPERS = {
    "self-generation": ("Ji et al. 2024, Beware of Calibration Data for Pruning Large Language Models",
                        "https://arxiv.org/abs/2410.17711"),
    "random-windows": ("Sun et al. 2024, A Simple and Effective Pruning Approach for Large Language Models (Wanda)",
                       "https://arxiv.org/abs/2306.11695"),
    "mixture": ("Xu et al. 2026, calibration data mixtures for pruning (arXiv 2606.03328)",
                "https://arxiv.org/abs/2606.03328"),
}


@dataclass
class BuildResult:
    path: Path
    manifest: dict[str, Any]
    existed: bool
    samples: list[Sample]


def make_source(spec, seed: int = 0):
    """The component's source and the split it reads, from the registered source type."""
    from curate.sources import SOURCE_TYPES

    return SOURCE_TYPES.get(spec.type)(spec, seed), spec.reads


def make_step(spec, *, target: int, seq_len: int, seed: int, source_name: str) -> Step:
    """The registered step of ``spec.type``; it takes what it needs of these keywords."""
    from curate.steps import STEPS

    return STEPS.get(spec.type)(spec, target=target, seq_len=seq_len, seed=seed, source_name=source_name)


def _sub_seed(seed: int, label: str) -> int:
    return int(hashlib.sha256(f"{seed}:{label}".encode()).hexdigest()[:8], 16)


def trim_to_count(samples: list[Sample], count: int, stats: list[StepStats], *, label: str, reason: str,
                  short: str, hint: str) -> list[Sample]:
    """Exactly ``count`` samples: too few is an error (``short`` with ``{n}`` = how many there
    were), extra ones are cut from the end and counted as a ``trim:<label>`` step dropping them
    for ``reason``."""
    if len(samples) < count:
        raise SourceError(short.format(n=len(samples)), hint=hint)
    if len(samples) > count:
        trim = StepStats(f"trim:{label}", "trim", seen=len(samples), kept=count)
        trim.drop(reason, len(samples) - count)
        stats.append(trim)
        samples = samples[:count]
    return samples


def run_component(comp: ComponentSpec, count: int, recipe: Recipe, seed: int, ctx: RunContext,
                  stats: list[StepStats]) -> tuple[list[Sample], dict[str, Any]]:
    label = comp.label
    source, split = make_source(comp.source, seed)
    source.name = comp.base_name  # type: ignore[misc]
    t0 = time.perf_counter()
    docs = list(source.iter(split, comp.source.max_doc_bytes))
    st = StepStats(f"source:{label}", "source", seen=len(docs), kept=len(docs), seconds=time.perf_counter() - t0)
    for reason, n in getattr(source, "dropped", {}).items():  # documents the source skipped (empty, ...)
        st.seen += n
        st.drop(reason, n)
    stats.append(st)
    samples = docs
    for spec in comp.steps:
        step = make_step(spec, target=count, seq_len=recipe.seq_len, seed=_sub_seed(seed, label),
                         source_name=comp.base_name)
        samples = step(samples, ctx)
        stats.append(step.stats)
        if not samples:
            raise SourceError(f"component '{label}': step '{spec.type}' left no samples",
                              hint="loosen the filter or check the source")
    if comp.name:  # an explicit component name labels its rows (two components may share a source)
        for smp in samples:
            smp.source = comp.name
    samples = trim_to_count(samples, count, stats, label=label, reason="beyond_component_count",
                            short=f"component '{label}' produced {{n}} samples, {count} needed",
                            hint="raise 'oversample' of its sample/generate step or loosen its filters")
    info = {**source.card_info(), "component": label, "count": count, "weight": comp.weight,
            "self_generated": comp.self_generated}
    return samples, info


def check_inputs(recipe: Recipe) -> None:
    """Cheap checks that need no model: the model id resolves, source files exist."""
    from curate.models import BUNDLED_MODELS, resolve_model

    if recipe.model.name not in BUNDLED_MODELS:
        resolve_model(recipe.model.name, recipe.model.revision)
    from curate.budget import check_build_size

    check_build_size(recipe)  # memory and generation time, from the recipe alone
    for comp in recipe.components:
        make_source(comp.source, recipe.seed)


def summarize_scores(samples: list[Sample]) -> dict[str, dict[str, float]]:
    import statistics

    keys = set.intersection(*(set(s.scores) for s in samples)) if samples else set()
    out = {}
    for k in sorted(keys):
        vals = [float(s.scores[k]) for s in samples]
        out[k] = {"mean": statistics.fmean(vals), "std": statistics.pstdev(vals), "min": min(vals),
                  "max": max(vals), "median": statistics.median(vals)}
    return out


def strategy_of(recipe: Recipe) -> dict[str, Any]:
    if recipe.strategy:
        return recipe.strategy.model_dump(exclude_none=True)
    gen = any(c.self_generated for c in recipe.components)
    name = "self-generation" if gen else ("mixture" if len(recipe.components) > 1 else "random-windows")
    paper, url = DEFAULT_PAPERS[name]
    return {"name": name, "paper": paper, "url": url}


def build_recipe(recipe: Recipe, out_dir: str | Path = "out", *, seed: int | None = None,
                 version: str | None = None, ctx: RunContext | None = None, progress: bool = True,
                 recipe_file: str | None = None) -> BuildResult:
    t_start = time.perf_counter()
    if seed is not None and seed != recipe.seed:
        recipe = recipe.model_copy(update={"seed": seed})
    seed = recipe.seed
    check_inputs(recipe)
    m = recipe.model
    ctx = ctx or RunContext(model_name=m.name, revision=m.revision, dtype=m.dtype, device=m.device,
                            trust_remote_code=m.trust_remote_code, allow_pickle=m.allow_pickle, seed=seed,
                            batch_size=m.batch_size, progress=progress)
    stats: list[StepStats] = []
    samples: list[Sample] = []
    sources: list[dict[str, Any]] = []
    for comp, count in zip(recipe.components, recipe.component_counts(), strict=True):
        got, info = run_component(comp, count, recipe, seed, ctx, stats)
        samples += got
        sources.append(info)
    for spec in recipe.steps:
        step = make_step(spec, target=recipe.n_samples, seq_len=recipe.seq_len, seed=_sub_seed(seed, "set"),
                         source_name="set")
        samples = step(samples, ctx)
        stats.append(step.stats)
    samples = trim_to_count(samples, recipe.n_samples, stats, label="set", reason="beyond_n_samples",
                            short=f"the recipe produced {{n}} samples, n_samples={recipe.n_samples} needed",
                            hint="raise pool_size or oversample")
    bad = [s.doc_id for s in samples if len(s.input_ids or []) != recipe.seq_len]
    if bad:  # a bug, not a user error: every producer must emit exactly L tokens
        raise RuntimeError(f"{len(bad)} samples do not have seq_len={recipe.seq_len} tokens, e.g. {bad[0]}")
    final_counts: dict[str, int] = {}
    for s in samples:
        final_counts[s.source] = final_counts.get(s.source, 0) + 1
    manifest = {
        "curate_version": __version__,
        "recipe": recipe.canonical(),
        "recipe_hash": recipe.recipe_hash,
        "recipe_file": recipe_file,
        "seed": seed,
        "n_samples": recipe.n_samples,
        "seq_len": recipe.seq_len,
        "model": ctx.model_info.to_dict() if ctx.model_loaded else _tokenizer_only_info(ctx),
        "sources": sources,
        "source_counts": final_counts,
        "strategy": strategy_of(recipe),
        "steps": [s.to_dict() for s in stats],
        "score_summary": summarize_scores(samples),
        "timings": {"total_s": round(time.perf_counter() - t_start, 2)},
    }
    from curate.sets.write import write_version

    path, existed = write_version(samples, manifest, out_dir, recipe.name, version)
    manifest = json.loads((path / MANIFEST).read_text())
    return BuildResult(path=path, manifest=manifest, existed=existed, samples=samples)


def _tokenizer_only_info(ctx: RunContext) -> dict[str, Any]:
    """Sampling-only recipes never load weights; record the model by id and tokenizer hash."""
    from curate.models import resolve_model, tokenizer_fingerprint

    kind, path, revision, sha = resolve_model(ctx.model_name, ctx.revision)
    return {"name": ctx.model_name, "source": kind, "path": path, "revision": revision, "sha": sha,
            "tokenizer": tokenizer_fingerprint(ctx.tokenizer)}
