"""One draw of ``curate validate``: reset, draw the tokens, prune, evaluate, write (the unit an executor runs).

    from curate.validate.draw import Draw, run_draw
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from curate.evaluate.evaluator import Evaluator
from curate.files import atomic_bytes, atomic_json, short_hash
from curate.validate.config import ValidateConfig
from curate.validate.draws import SetEntry, draw_tokens
from curate.validate.results import (
    max_group_nonzeros,
    measured_sparsity,
    rows_frame,
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


