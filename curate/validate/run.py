"""The draw loop of ``curate validate``: reset, draw, prune, evaluate, write; resumable.

    from curate.validate import ValidateConfig, validate
    table = validate(ValidateConfig(sets=["out/default", "out/wiki-random"], out="runs/val"))

:func:`validate` plans the run (which draws are not on disk yet), has an executor
(:mod:`curate.validate.executor`: one process, or one Ray task per draw) run them through
:func:`run_draw`, and writes the table and the report from what is on disk.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from curate.errors import CurateError
from curate.evaluate.evaluator import Evaluator
from curate.files import atomic_bytes, atomic_json, short_hash, slug
from curate.validate.config import ValidateConfig
from curate.validate.draws import SetEntry, draw_tokens, load_sets
from curate.validate.results import (
    TABLE_COLUMNS,
    max_group_nonzeros,
    measured_sparsity,
    rows_frame,
    write_set_extras,
)

PruneFn = Callable[[Any, Any, ValidateConfig], Any]  # (model, input_ids (N, L), config) -> report


def backend_prune(model, input_ids, cfg: ValidateConfig, stat_mask=None):
    """The real compressor, in place on ``model``: prune with ``cfg.prune``, or quantize with ``cfg.quant``."""
    from prune_backend.compress import compress_model

    return compress_model(model, input_ids, cfg.compression, progress=cfg.progress, stat_mask=stat_mask)


@dataclass(frozen=True)
class Draw:
    """One (set, seed) to run; ``path`` is the parquet whose presence marks it finished."""

    label: str
    seed: int
    path: Path

    @property
    def name(self) -> str:
        return f"{self.label} seed {self.seed}"


def run_draw(draw: Draw, entry: SetEntry, cfg: ValidateConfig, model, tokenizer, info, evaluator: Evaluator,
             dense: dict[str, float], prune_fn: PruneFn, where: dict[str, Any] | None = None):
    """One draw on a model holding its dense weights: draw the tokens, prune in place, evaluate,
    write the facts then the parquet (atomically, the parquet last), return (frame, facts).

    The same function runs in the driver (``local``) and inside a Ray task (``ray``), so both
    executors produce the same rows for the same draw. ``where`` (node, attempt of a Ray task)
    joins the facts.
    """
    t0 = time.perf_counter()
    ids, stat_mask, origin = draw_tokens(entry, draw.seed, cfg, model, tokenizer, info, Path(cfg.out))
    t1 = time.perf_counter()
    # --mask assistant: the statistics count the rows' assistant tokens only
    prune_fn(model, ids, cfg, **({} if stat_mask is None else {"stat_mask": stat_mask}))
    t2 = time.perf_counter()
    sparsity = measured_sparsity(model)
    nm = cfg.prune.nm if cfg.quant is None else None
    group = {"max_nonzeros_per_group": max_group_nonzeros(model, nm[1])} if nm else {}
    rows = evaluator.evaluate(model)
    t3 = time.perf_counter()
    # A rebuilt draw's rows name the set that was actually built (its own fingerprint).
    frame = rows_frame(rows, dense, label=entry.label, fingerprint=origin.get("fingerprint", entry.cs.fingerprint),
                       seed=draw.seed, cfg=cfg)
    fact = {"set": entry.label, "fingerprint": entry.cs.fingerprint, "seed": draw.seed, **origin,
            "tokens": list(ids.shape), "measured_sparsity": round(sparsity, 6), **group,
            "draw_s": round(t1 - t0, 2), "prune_s": round(t2 - t1, 2), "eval_s": round(t3 - t2, 2), **(where or {})}
    # Facts first, parquet last: the parquet's presence marks the draw as finished.
    atomic_json(draw.path.with_suffix(".json"), fact)
    atomic_bytes(draw.path, frame.write_parquet)
    return frame, fact


def draw_key(cfg: ValidateConfig, model_fp: str) -> str:
    """What makes two draws of one (set, seed) the same: weights, evaluation, compression, draw kind.
    Not the executor: a local run and a Ray run resume each other's draws."""
    return short_hash([model_fp, cfg.eval.key(), cfg.prune_key(), cfg.draw, cfg.dtype, cfg.retokenize], 8)


def validate(cfg: ValidateConfig, *, model_objects: tuple[Any, Any, Any] | None = None,
             prune_fn: PruneFn | None = None, log: Callable[[str], None] | None = None):
    """Run every (set, seed) draw not already in ``cfg.out`` and return the tidy results table.

    ``model_objects`` = (model, tokenizer, ModelInfo or None) evaluates an already-loaded model
    (tests, notebooks); locally it is restored to its dense weights on return, under ``executor:
    ray`` every task gets its own copy through the object store (else each task loads
    ``cfg.model``). ``prune_fn`` replaces :func:`prune_backend.prune_model` (same in-place
    contract; under Ray it must be importable on the workers).
    """
    import polars as pl
    from tqdm.auto import tqdm

    from curate.validate.executor import make_executor
    from curate.validate.report import write_report

    log = log or (lambda msg: tqdm.write(msg))
    prune_fn = prune_fn or backend_prune
    entries = load_sets(cfg)  # before the model: a typo in a path fails in a second, not after loading
    if cfg.quant is None and cfg.prune.mask == "assistant" and cfg.draw == "resample":
        for e in entries:
            if "assistant_mask" not in e.cs.dataset.column_names:
                raise CurateError(f"set {e.label} has no assistant_mask column for --mask assistant",
                                  hint="build it with a 'chat' step or 'generate' with chat: true, or drop --mask")
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)

    with make_executor(cfg, entries, model_objects=model_objects, prune_fn=prune_fn, log=log) as ex:
        def check(info) -> None:  # before any draw: a set made for another tokenizer needs --retokenize
            if getattr(info, "tokenizer", None):
                for e in entries:
                    e.cs.check_tokenizer(info.tokenizer, retokenize=cfg.retokenize)

        model_fp, info, dense_rows = ex.dense(check)
        dense = {r.metric: r.value for r in dense_rows}
        atomic_json(out / "dense.json", {"model": model_fp, "rows": [r.to_dict() for r in dense_rows]})

        key = draw_key(cfg, model_fp)
        todo, frames, facts = [], [], []
        for e in entries:
            for seed in range(cfg.seeds):
                stem = f"{slug(e.label)}-{e.cs.fingerprint[:8]}-n{e.nsamples}-s{seed}-{key}"
                path = out / "draws" / f"{stem}.parquet"
                if path.exists():
                    frames.append(pl.read_parquet(path))
                    meta = path.with_suffix(".json")
                    if meta.exists():
                        facts.append(json.loads(meta.read_text()))
                else:
                    todo.append(Draw(e.label, seed, path))
        if frames:
            log(f"reusing {len(frames)} finished draw(s) from {out / 'draws'}")

        bar = tqdm(total=len(todo), desc="draws", unit="draw", disable=not cfg.progress)
        try:
            done, failures = ex.run(todo, dense, bar)
        finally:
            bar.close()
        frames += [f for f, _ in done]
        facts += [f for _, f in done]

        empty = rows_frame([], {}, label="", fingerprint="", seed=0, cfg=cfg)
        table = pl.concat(frames).select(TABLE_COLUMNS) if frames else empty
        table = table.sort(["set", "seed", "metric"])
        atomic_json(out / "failures.json", failures)
        atomic_bytes(out / "results.parquet", table.write_parquet)
        atomic_bytes(out / "results.csv", table.write_csv)
        write_report(out, table, config=cfg.model_dump(mode="json") | {"model_fingerprint": model_fp},
                     failures=failures, draws=facts)
        write_set_extras(entries, table, cfg, log)
        if cfg.store is not None and not table.is_empty():
            stored: dict[str, Any] = {e.label: e.cs for e in entries}
            # rebuilt draws: the features of each seed's set, which is what the rows' fingerprints name
            stored |= {f"{f['set']}/seed{f['seed']}": f["path"] for f in facts
                       if f.get("draw") == "rebuild" and f.get("path") and Path(f["path"]).is_dir()}
            ex.store(table, stored)
    if failures:
        log(f"{len(failures)} draw(s) failed; see {out / 'failures.json'}")
    return table
