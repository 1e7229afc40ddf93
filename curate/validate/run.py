"""The draw loop of ``curate validate``: reset, draw, prune, evaluate, write; resumable.

    from curate.validate import ValidateConfig, validate
    table = validate(ValidateConfig(sets=["out/default", "out/wiki-random"], out="runs/val"))
"""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from curate.errors import CurateError
from curate.evaluate.evaluator import Evaluator
from curate.files import atomic_bytes, atomic_json, short_hash, slug
from curate.validate.config import ValidateConfig
from curate.validate.dense import dense_scores, model_fingerprint
from curate.validate.draws import draw_tokens, load_sets
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


def validate(cfg: ValidateConfig, *, model_objects: tuple[Any, Any, Any] | None = None,
             prune_fn: PruneFn | None = None, log: Callable[[str], None] | None = None):
    """Run every (set, seed) draw not already in ``cfg.out`` and return the tidy results table.

    ``model_objects`` = (model, tokenizer, ModelInfo or None) evaluates an already-loaded model
    (tests, notebooks); it is restored to its dense weights on return. ``prune_fn`` replaces
    :func:`prune_backend.prune_model` (same in-place contract).
    """
    import polars as pl
    from tqdm.auto import tqdm

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
    atomic_json(out / "dense.json", {"model": model_fp, "rows": [r.to_dict() for r in dense_rows]})

    draw_key = short_hash([model_fp, cfg.eval.key(), cfg.prune_key(), cfg.draw, cfg.dtype, cfg.retokenize], 8)
    todo, frames, facts = [], [], []
    for e in entries:
        for seed in range(cfg.seeds):
            stem = f"{slug(e.label)}-{e.cs.fingerprint[:8]}-n{e.nsamples}-s{seed}-{draw_key}"
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
                ids, stat_mask, origin = draw_tokens(e, seed, cfg, model, tokenizer, info, out)
                t1 = time.perf_counter()
                # --mask assistant: the statistics count the rows' assistant tokens only
                prune_fn(model, ids, cfg, **({} if stat_mask is None else {"stat_mask": stat_mask}))
                t2 = time.perf_counter()
                sparsity = measured_sparsity(model)
                nm = cfg.prune.nm if cfg.quant is None else None
                group = {"max_nonzeros_per_group": max_group_nonzeros(model, nm[1])} if nm else {}
                rows = evaluator.evaluate(model)
                t3 = time.perf_counter()
            except Exception as exc:  # noqa: BLE001 - a failed draw (OOM included) must not lose the others
                failures.append({"set": e.label, "seed": seed, "error": f"{type(exc).__name__}: {exc}",
                                 "traceback": traceback.format_exc()})
                log(f"draw {e.label} seed {seed} failed: {type(exc).__name__}: {exc}")
                continue
            # A rebuilt draw's rows name the set that was actually built (its own fingerprint).
            frame = rows_frame(rows, dense, label=e.label, fingerprint=origin.get("fingerprint", e.cs.fingerprint),
                               seed=seed, cfg=cfg)
            fact = {"set": e.label, "fingerprint": e.cs.fingerprint, "seed": seed, **origin,
                    "tokens": list(ids.shape), "measured_sparsity": round(sparsity, 6), **group,
                    "draw_s": round(t1 - t0, 2), "prune_s": round(t2 - t1, 2), "eval_s": round(t3 - t2, 2)}
            # Facts first, parquet last: the parquet's presence marks the draw as finished.
            atomic_json(path.with_suffix(".json"), fact)
            atomic_bytes(path, frame.write_parquet)
            frames.append(frame)
            facts.append(fact)
    finally:
        bar.close()
        model.load_state_dict(dense_state)  # hand the caller back the dense model

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
        from curate.predict import append_results

        stored: dict[str, Any] = {e.label: e.cs for e in entries}
        # rebuilt draws: the features of each seed's set, which is what the rows' fingerprints name
        stored |= {f"{f['set']}/seed{f['seed']}": f["path"] for f in facts
                   if f.get("draw") == "rebuild" and f.get("path") and Path(f["path"]).is_dir()}
        append_results(table, cfg.store, sets=stored, model=model, tokenizer=tokenizer)
    if failures:
        log(f"{len(failures)} draw(s) failed; see {out / 'failures.json'}")
    return table
