"""The tidy results table of a validate run, and what a set version folder gets back from it.

    frame = rows_frame(rows, dense, label="default@v1.0.0", fingerprint=fp, seed=0, cfg=cfg)
    write_set_extras(entries, table, cfg, log)   # <set>/extras/validation.json + re-rendered card

Table columns (:data:`TABLE_COLUMNS`): set, fingerprint, seed, method, sparsity, pattern,
metric, dimension, value, dense_value, retention.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from curate.errors import CurateError
from curate.evaluate.evaluator import MetricRow
from curate.files import atomic_json
from curate.validate.config import ValidateConfig

TABLE_COLUMNS = ["set", "fingerprint", "seed", "method", "sparsity", "pattern", "metric", "dimension",
                 "value", "dense_value", "retention"]


def _decoder_linear_weights(model):
    import torch

    from prune_backend.layers import decoder_layers

    for layer in decoder_layers(model):
        for m in layer.modules():
            if isinstance(m, torch.nn.Linear):
                yield m.weight


def measured_sparsity(model) -> float:
    """Fraction of zeros over the decoder layers' linear weights (what the pruner touches)."""
    zeros = total = 0
    for w in _decoder_linear_weights(model):
        zeros += int((w == 0).sum())
        total += w.numel()
    return zeros / max(total, 1)


def max_group_nonzeros(model, m: int) -> int:
    """The most non-zeros in any run of ``m`` consecutive inputs of any decoder linear: at most N
    for a model pruned N:M."""
    from prune_backend.methods.masks import nm_group_nonzeros

    return max(int(nm_group_nonzeros(w.detach(), m).max()) for w in _decoder_linear_weights(model))


def rows_frame(rows: list[MetricRow], dense: dict[str, float], *, label: str, fingerprint: str, seed: int,
               cfg: ValidateConfig):
    import polars as pl

    from curate.evaluate.dimensions import retention

    recs = []
    for r in rows:
        d = dense.get(r.metric, float("nan"))
        recs.append({"set": label, "fingerprint": fingerprint, "seed": seed, "method": cfg.method_label,
                     "sparsity": cfg.sparsity_label, "pattern": cfg.pattern_label, "metric": r.metric,
                     "dimension": r.dimension, "value": r.value, "dense_value": d,
                     "retention": retention(r.value, d, higher_is_better=r.higher_is_better)})
    schema = {"set": pl.String, "fingerprint": pl.String, "seed": pl.Int64, "method": pl.String,
              "sparsity": pl.Float64, "pattern": pl.String, "metric": pl.String, "dimension": pl.String,
              "value": pl.Float64, "dense_value": pl.Float64, "retention": pl.Float64}
    return pl.DataFrame(recs, schema=schema)


def write_set_extras(entries, table, cfg: ValidateConfig, log: Callable[[str], None]) -> None:
    """``extras/validation.json`` + card re-render for sets that are curate version folders."""
    import polars as pl

    from curate.evaluate.dimensions import summarize
    from curate.sets.card import rerender_card
    from curate.sets.layout import EXTRAS, is_version_dir

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
            "model": cfg.model, "method": cfg.method_label, "sparsity": cfg.sparsity_label,
            "pattern": cfg.pattern_label,
            "seeds": int(table.filter(pl.col("set") == e.label)["seed"].n_unique()),
            "nsamples": e.nsamples, "draw": cfg.draw, "eval_key": cfg.eval.key(),
            "retention": {r["dimension"]: {"mean": round(r["mean"], 4), "std": round(r["std"], 4)}
                          for r in mine.iter_rows(named=True)},
            "metrics": {r["metric"]: {"dimension": r["dimension"], "mean": round(r["mean"], 4),
                                      "std": round(r["std"], 4), "dense": round(r["dense"], 4)}
                        for r in metrics.iter_rows(named=True)},
            "validated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        atomic_json(Path(e.cs.path) / EXTRAS / "validation.json", payload)
        try:
            rerender_card(e.cs.path)
        except CurateError as exc:
            log(f"could not re-render the card of {e.label}: {exc}")
