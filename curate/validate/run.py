"""The draw loop of ``curate validate``: reset, draw, prune, evaluate, write; resumable.

    from curate.validate import ValidateConfig, validate
    table = validate(ValidateConfig(sets=["out/default", "out/wiki-random"], out="runs/val"))

:func:`validate` plans the run (which draws are not on disk yet), has an executor
(:mod:`curate.validate.executor`: one process, or one Ray task per draw) run them through
:func:`run_draw`, and writes the table and the report from what is on disk.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from curate.errors import CurateError
from curate.files import atomic_bytes, atomic_json, slug
from curate.validate.config import ValidateConfig
from curate.validate.draw import Draw, PruneFn, backend_prune, draw_key  # noqa: F401 - re-exported
from curate.validate.draws import load_sets
from curate.validate.results import (
    TABLE_COLUMNS,
    rows_frame,
    with_moe_columns,
    write_set_extras,
)


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
    with make_executor(cfg, entries, model_objects=model_objects, prune_fn=prune_fn, log=log) as ex:
        out.mkdir(parents=True, exist_ok=True)  # after the model loaded and its shapes were checked
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
                    frames.append(with_moe_columns(pl.read_parquet(path)))  # a draw cached before the MoE columns
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
        from curate.moe.coverage_io import read_coverage

        coverage = {e.label: c for e in entries if (c := read_coverage(e.cs.path))}
        write_report(out, table, config=cfg.model_dump(mode="json") | {"model_fingerprint": model_fp},
                     failures=failures, draws=facts, coverage=coverage)
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
