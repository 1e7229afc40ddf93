"""Prune with each calibration set over several draws, evaluate, and compare: ``curate validate``.

    curate validate out/default out/wiki-random --method wanda --sparsity 0.5 --seeds 3 --out runs/val

    from curate.validate import ValidateConfig, validate
    table = validate(ValidateConfig(sets=["out/default", "out/wiki-random"], out="runs/val"))

For every set and seed ``k`` (a *draw*): reset the model to its dense weights (from a CPU copy
of the state dict, not from disk), take calibration tokens -- ``resample``: ``N`` rows of the
set drawn with seed ``k`` (``CalibrationSet.input_ids(n=N, seed=k)``); ``rebuild``: the set's
recipe rebuilt with seed ``k`` -- prune in place with :func:`prune_backend.prune_model`, and
evaluate (:mod:`curate.evaluate`). Ji et al. 2024 and Williams & Aletras 2024 show that the
spread over such draws is as large as many differences between sets, hence seeds and error
bars.

Output folder::

    dense.json                      dense scores (also cached under ~/.cache/curate/validate/)
    draws/<set>-<fp8>-s<k>-<key>.parquet   one finished draw (written atomically; reused on rerun)
    draws/<...>.json                 draw facts: tokens, measured sparsity, seconds
    results.parquet, results.csv    tidy table: set, fingerprint, seed, method, sparsity, pattern,
                                    metric, dimension, value, dense_value, retention
    retention.csv, summary.csv      per-draw and mean +- std retention per dimension (+ Total)
    failures.json                   draws that raised, with the error
    report.md, retention.png, perplexity.png

A set that is a curate version folder also gets ``extras/validation.json`` and a re-rendered
card (its data and manifest are never touched, so its fingerprint does not change).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from curate.errors import CurateError
from curate.evaluate.evaluator import EvalConfig, Evaluator, MetricRow

TABLE_COLUMNS = ["set", "fingerprint", "seed", "method", "sparsity", "pattern", "metric", "dimension",
                 "value", "dense_value", "retention"]


class ValidateConfig(BaseModel):
    """Everything ``curate validate`` needs; one field per CLI flag."""

    model_config = ConfigDict(extra="forbid")

    sets: list[str] = Field(min_length=1, description="set folders (curate versions) or dataset files")
    out: Path = Path("validate-out")
    model: str = "smollm2-135m"
    dtype: str = "float32"
    device: str | None = None
    method: str = "wanda"
    owl: bool = False
    dsnot: bool = False
    sparsity: float = Field(0.5, gt=0.0, lt=1.0)
    pattern: str = "unstructured"
    seeds: int = Field(3, ge=1, description="draws per set, seeds 0..K-1")
    nsamples: int | None = Field(None, ge=1, description="rows per draw; default: half the set, at most 128")
    draw: Literal["resample", "rebuild"] = "resample"
    prune_batch_size: int = Field(8, ge=1)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    progress: bool = True
    retokenize: bool = False

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, v: str) -> str:
        if v != "unstructured" and not re.fullmatch(r"\d+:\d+", v):
            raise ValueError("pattern must be 'unstructured' or N:M such as '2:4'")
        if v != "unstructured":
            n, m = map(int, v.split(":"))
            if not 0 < n < m:
                raise ValueError(f"pattern {v}: need 0 < N < M")
        return v

    @model_validator(mode="after")
    def _nm_sparsity(self) -> ValidateConfig:
        if self.pattern != "unstructured":
            n, m = map(int, self.pattern.split(":"))
            if abs(self.sparsity - (1 - n / m)) > 1e-9:
                raise ValueError(f"pattern {self.pattern} means sparsity {1 - n / m:g}, got --sparsity {self.sparsity:g}")
        return self

    def prune_dict(self) -> dict[str, Any]:
        return {"method": self.method, "sparsity": self.sparsity, "pattern": self.pattern, "owl": self.owl,
                "dsnot": self.dsnot}

    @property
    def method_label(self) -> str:
        return self.method + ("+owl" if self.owl else "") + ("+dsnot" if self.dsnot else "")


@dataclass
class _SetEntry:
    label: str
    cs: Any  # CalibrationSet
    nsamples: int


PruneFn = Callable[[Any, Any, ValidateConfig], Any]  # (model, input_ids (N, L), config) -> report


def _import_backend():
    try:
        from prune_backend import PruneConfig, prune_model
    except ImportError as exc:
        raise CurateError("the pruning backend 'prune_backend' is not importable",
                          hint="reinstall curate, which ships it: pip install -e .") from exc
    return PruneConfig, prune_model


def _backend_prune(model, input_ids, cfg: ValidateConfig):
    """The real pruner: ``prune_backend.prune_model`` in place on ``model``."""
    PruneConfig, prune_model = _import_backend()
    pcfg = PruneConfig(method=cfg.method, sparsity=cfg.sparsity, pattern=cfg.pattern, owl=cfg.owl,
                       dsnot=cfg.dsnot, device=cfg.device, batch_size=cfg.prune_batch_size)
    return prune_model(model, input_ids, pcfg, progress=cfg.progress)


# ----------------------------------------------------------------------------- helpers


def _hash(obj: Any, n: int = 16) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:n]


def _atomic_bytes(path: Path, write: Callable[[str], None]) -> None:
    """Write via a temp file in the same folder + ``os.replace``: a killed run leaves either the
    old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        from curate.writer import file_mode

        os.chmod(tmp, file_mode())  # mkstemp makes 0600; extras are as readable as their set
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _atomic_json(path: Path, obj: Any) -> None:
    def w(tmp: str) -> None:
        Path(tmp).write_text(json.dumps(obj, indent=2, default=str))

    _atomic_bytes(path, w)


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", s).strip("_") or "set"


def model_fingerprint(model, info) -> str:
    """The loaded weights' identity: ModelInfo sha + tokenizer hash, or, for an in-memory model
    without one (tests), a hash of its parameters."""
    if info is not None and getattr(info, "sha", None):
        return f"{info.sha}:{info.tokenizer}"
    import torch

    h = hashlib.sha256()
    with torch.no_grad():
        for name, t in sorted(model.state_dict().items()):
            h.update(name.encode())
            h.update(t.detach().float().cpu().numpy().tobytes())
    return h.hexdigest()


def measured_sparsity(model) -> float:
    """Fraction of zeros over the decoder layers' linear weights (what the pruner touches)."""
    import torch

    from curate.models import decoder_layers

    zeros = total = 0
    for layer in decoder_layers(model):
        for m in layer.modules():
            if isinstance(m, torch.nn.Linear):
                zeros += int((m.weight == 0).sum())
                total += m.weight.numel()
    return zeros / max(total, 1)


def _rows_frame(rows: list[MetricRow], dense: dict[str, float], *, label: str, fingerprint: str, seed: int,
                cfg: ValidateConfig):
    import polars as pl

    from curate.evaluate.dimensions import retention

    recs = []
    for r in rows:
        d = dense.get(r.metric, float("nan"))
        recs.append({"set": label, "fingerprint": fingerprint, "seed": seed, "method": cfg.method_label,
                     "sparsity": cfg.sparsity, "pattern": cfg.pattern, "metric": r.metric,
                     "dimension": r.dimension, "value": r.value, "dense_value": d,
                     "retention": retention(r.value, d, higher_is_better=r.higher_is_better)})
    schema = {"set": pl.String, "fingerprint": pl.String, "seed": pl.Int64, "method": pl.String,
              "sparsity": pl.Float64, "pattern": pl.String, "metric": pl.String, "dimension": pl.String,
              "value": pl.Float64, "dense_value": pl.Float64, "retention": pl.Float64}
    return pl.DataFrame(recs, schema=schema)


# -------------------------------------------------------------------------- dense cache


def dense_cache_path(model_fp: str, eval_cfg: EvalConfig) -> Path:
    from curate.models import cache_dir

    return cache_dir() / "validate" / f"dense-{_hash([model_fp, eval_cfg.key()])}.json"


def dense_scores(model, evaluator: Evaluator, model_fp: str, *, log: Callable[[str], None]) -> list[MetricRow]:
    """Dense evaluation, computed once per (model fingerprint, evaluation config) and cached."""
    path = dense_cache_path(model_fp, evaluator.config)
    if path.exists():
        log(f"dense scores: reusing {path}")
        return [MetricRow(**r) for r in json.loads(path.read_text())["rows"]]
    t0 = time.perf_counter()
    rows = evaluator.evaluate(model)
    _atomic_json(path, {"model": model_fp, "eval": evaluator.config.model_dump(mode="json"),
                        "eval_key": evaluator.config.key(), "seconds": round(time.perf_counter() - t0, 2),
                        "rows": [r.to_dict() for r in rows]})
    log(f"dense scores: evaluated in {time.perf_counter() - t0:.1f}s, cached at {path}")
    return rows


# ------------------------------------------------------------------------------ main


def _load_sets(cfg: ValidateConfig) -> list[_SetEntry]:
    from curate.dataset import load_set

    entries: list[_SetEntry] = []
    seen: dict[str, int] = {}
    for spec in cfg.sets:
        cs = load_set(spec)
        label = cs.name if cs.manifest else Path(spec).name
        if label in seen:  # two sets with the same name@version: disambiguate by position
            seen[label] += 1
            label = f"{label}#{seen[label]}"
        else:
            seen[label] = 1
        if cfg.nsamples is not None:
            n = cfg.nsamples
            if n > len(cs):
                raise CurateError(f"--nsamples {n} exceeds the {len(cs)} rows of set {label}",
                                  hint="lower --nsamples or build a larger set")
        else:
            # Draws of N = all rows would all be identical; half the set keeps draws distinct.
            n = max(1, min(128, len(cs) // 2))
        entries.append(_SetEntry(label, cs, n))
    return entries


def _draw_tokens(entry: _SetEntry, seed: int, cfg: ValidateConfig, model, tokenizer, info, work: Path):
    """Calibration tokens (N, L) of one draw, and a description of where they came from."""
    if cfg.draw == "resample":
        ids = entry.cs.input_ids(n=entry.nsamples, seed=seed, tokenizer=tokenizer,
                                 seq_len=(entry.cs.manifest or {}).get("seq_len"))
        return ids, {"draw": "resample", "rows": entry.nsamples, "of": len(entry.cs)}
    recipe_dict = (entry.cs.manifest or {}).get("recipe")
    if not recipe_dict:
        raise CurateError(f"set {entry.label} has no recipe in its manifest", hint="use --draw resample")
    from curate.build import build_recipe
    from curate.context import RunContext
    from curate.dataset import load_set
    from curate.recipe import Recipe

    recipe = Recipe.model_validate(recipe_dict)
    ctx = RunContext.from_objects(model, tokenizer, info, seed=seed, progress=cfg.progress)
    res = build_recipe(recipe, work / "rebuilt" / _slug(entry.label), seed=seed, ctx=ctx, progress=cfg.progress)
    built = load_set(res.path)
    n = min(entry.nsamples, len(built)) if cfg.nsamples else len(built)
    return built.input_ids(n=n, seed=seed), {"draw": "rebuild", "path": str(res.path), "rows": n,
                                            "fingerprint": built.fingerprint}


def validate(cfg: ValidateConfig, *, model_objects: tuple[Any, Any, Any] | None = None,
             prune_fn: PruneFn | None = None, log: Callable[[str], None] | None = None):
    """Run every (set, seed) draw not already in ``cfg.out`` and return the tidy results table.

    ``model_objects`` = (model, tokenizer, ModelInfo or None) evaluates an already-loaded model
    (tests, notebooks); it is restored to its dense weights on return. ``prune_fn`` replaces
    :func:`prune_backend.prune_model` (same in-place contract).
    """
    import polars as pl
    from tqdm.auto import tqdm

    from curate.report import write_report

    log = log or (lambda msg: tqdm.write(msg))
    if prune_fn is None:
        _import_backend()  # a missing backend is one clear error, not N failed draws
        prune_fn = _backend_prune
    entries = _load_sets(cfg)  # before the model: a typo in a path fails in a second, not after loading
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)

    if model_objects is not None:
        model, tokenizer, info = model_objects
    else:
        from curate.models import load_model

        model, tokenizer, info = load_model(cfg.model, dtype=cfg.dtype, device=cfg.device)
    # Weights identity + the dtype they run in (bf16 and fp32 give different scores).
    model_fp = f"{model_fingerprint(model, info)}:{next(model.parameters()).dtype}"
    if getattr(info, "tokenizer", None):
        for e in entries:
            e.cs.check_tokenizer(info.tokenizer, retokenize=cfg.retokenize)

    # A CPU copy of the dense weights: resetting a draw is a memcpy, not a 540 MB disk read.
    dense_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
    evaluator = Evaluator(cfg.eval, tokenizer, progress=cfg.progress)
    dense_rows = dense_scores(model, evaluator, model_fp, log=log)
    dense = {r.metric: r.value for r in dense_rows}
    _atomic_json(out / "dense.json", {"model": model_fp, "rows": [r.to_dict() for r in dense_rows]})

    draw_key = _hash([model_fp, cfg.eval.key(), cfg.prune_dict(), cfg.draw, cfg.dtype], 8)
    todo, frames, facts = [], [], []
    for e in entries:
        for seed in range(cfg.seeds):
            stem = f"{_slug(e.label)}-{e.cs.fingerprint[:8]}-n{e.nsamples}-s{seed}-{draw_key}"
            path = out / "draws" / f"{stem}.parquet"
            if path.exists():
                frames.append(pl.read_parquet(path))
                meta = path.with_suffix(".json")
                if meta.exists():
                    facts.append(json.loads(meta.read_text()))
            else:
                todo.append((e, seed, path))
    if frames:
        log(f"reusing {len(frames)} finished draw(s) from {out / 'draws'}")

    failures: list[dict[str, Any]] = []
    bar = tqdm(todo, desc="draws", unit="draw", disable=not cfg.progress)
    try:
        for e, seed, path in bar:
            bar.set_postfix_str(f"{e.label} seed {seed}")
            t0 = time.perf_counter()
            try:
                model.load_state_dict(dense_state)
                ids, origin = _draw_tokens(e, seed, cfg, model, tokenizer, info, out)
                t1 = time.perf_counter()
                prune_fn(model, ids, cfg)
                t2 = time.perf_counter()
                sparsity = measured_sparsity(model)
                rows = evaluator.evaluate(model)
                t3 = time.perf_counter()
            except Exception as exc:  # noqa: BLE001 - a failed draw (OOM included) must not lose the others
                failures.append({"set": e.label, "seed": seed, "error": f"{type(exc).__name__}: {exc}",
                                 "traceback": traceback.format_exc()})
                log(f"draw {e.label} seed {seed} failed: {type(exc).__name__}: {exc}")
                continue
            frame = _rows_frame(rows, dense, label=e.label, fingerprint=e.cs.fingerprint, seed=seed, cfg=cfg)
            fact = {"set": e.label, "fingerprint": e.cs.fingerprint, "seed": seed, **origin,
                    "tokens": list(ids.shape), "measured_sparsity": round(sparsity, 6),
                    "draw_s": round(t1 - t0, 2), "prune_s": round(t2 - t1, 2), "eval_s": round(t3 - t2, 2)}
            # Facts first, parquet last: the parquet's presence marks the draw as finished.
            _atomic_json(path.with_suffix(".json"), fact)
            _atomic_bytes(path, frame.write_parquet)
            frames.append(frame)
            facts.append(fact)
    finally:
        bar.close()
        model.load_state_dict(dense_state)  # hand the caller back the dense model

    empty = _rows_frame([], {}, label="", fingerprint="", seed=0, cfg=cfg)
    table = pl.concat(frames).select(TABLE_COLUMNS) if frames else empty
    table = table.sort(["set", "seed", "metric"])
    _atomic_json(out / "failures.json", failures)
    _atomic_bytes(out / "results.parquet", table.write_parquet)
    _atomic_bytes(out / "results.csv", table.write_csv)
    write_report(out, table, config=cfg.model_dump(mode="json") | {"model_fingerprint": model_fp},
                 failures=failures, draws=facts)
    _write_set_extras(entries, table, cfg, log)
    if failures:
        log(f"{len(failures)} draw(s) failed; see {out / 'failures.json'}")
    return table


def _write_set_extras(entries: list[_SetEntry], table, cfg: ValidateConfig, log: Callable[[str], None]) -> None:
    """``extras/validation.json`` + card re-render for sets that are curate version folders."""
    import polars as pl

    from curate.dataset import EXTRAS, is_version_dir
    from curate.evaluate.dimensions import summarize

    if table.is_empty():
        return
    summary = summarize(table)
    for e in entries:
        if e.cs.path is None or not is_version_dir(Path(e.cs.path)):
            continue
        mine = summary.filter(pl.col("set") == e.label)
        if mine.is_empty():
            continue
        metrics = (table.filter(pl.col("set") == e.label).group_by("metric")
                   .agg(pl.col("dimension").first(), pl.col("value").mean().alias("mean"),
                        pl.col("value").std().fill_null(0.0).alias("std"), pl.col("dense_value").first().alias("dense"))
                   .sort("metric"))
        payload = {
            "model": cfg.model, "method": cfg.method_label, "sparsity": cfg.sparsity, "pattern": cfg.pattern,
            "seeds": int(table.filter(pl.col("set") == e.label)["seed"].n_unique()),
            "nsamples": e.nsamples, "draw": cfg.draw, "eval_key": cfg.eval.key(),
            "retention": {r["dimension"]: {"mean": round(r["mean"], 4), "std": round(r["std"], 4)}
                          for r in mine.iter_rows(named=True)},
            "metrics": {r["metric"]: {"dimension": r["dimension"], "mean": round(r["mean"], 4),
                                      "std": round(r["std"], 4), "dense": round(r["dense"], 4)}
                        for r in metrics.iter_rows(named=True)},
            "validated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        _atomic_json(Path(e.cs.path) / EXTRAS / "validation.json", payload)
        try:
            from curate.cards import rerender_card
        except ImportError:
            continue
        try:
            rerender_card(e.cs.path)
        except CurateError as exc:
            log(f"could not re-render the card of {e.label}: {exc}")
