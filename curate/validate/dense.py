"""The dense model's scores, computed once per (weights, evaluation config) and cached.

    rows = dense_scores(model, evaluator, model_fingerprint(model, info), log=print)
    # ~/.cache/curate/validate/dense-<hash>.json, reused by every later run with the same key
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path

from curate.evaluate.evaluator import EvalConfig, Evaluator, MetricRow
from curate.files import atomic_json, short_hash


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


def dense_cache_path(model_fp: str, eval_cfg: EvalConfig) -> Path:
    from curate.files import cache_dir

    return cache_dir() / "validate" / f"dense-{short_hash([model_fp, eval_cfg.key()])}.json"


def dense_scores(model, evaluator: Evaluator, model_fp: str, *, log: Callable[[str], None]) -> list[MetricRow]:
    """Dense evaluation, computed once per (model fingerprint, evaluation config) and cached."""
    path = dense_cache_path(model_fp, evaluator.config)
    if path.exists():
        log(f"dense scores: reusing {path}")
        return [MetricRow(**r) for r in json.loads(path.read_text())["rows"]]
    t0 = time.perf_counter()
    rows = evaluator.evaluate(model)
    atomic_json(path, {"model": model_fp, "eval": evaluator.config.model_dump(mode="json"),
                       "eval_key": evaluator.config.key(), "seconds": round(time.perf_counter() - t0, 2),
                       "rows": [r.to_dict() for r in rows]})
    log(f"dense scores: evaluated in {time.perf_counter() - t0:.1f}s, cached at {path}")
    return rows
