"""prune_backend: layer-wise post-training pruning of Llama-like LLMs (Wanda, SparseGPT, OWL, DSnoT).

    from curate.models import load_model
    from prune_backend import PruneConfig, prune_model, save_pruned
    model, tok, _ = load_model("smollm2-135m")
    ids = tok(["The quick brown fox jumps over the lazy dog. " * 60] * 8, return_tensors="pt").input_ids[:, :256]
    report = prune_model(model, ids, PruneConfig(method="wanda", sparsity=0.5, pattern="2:4"))
    save_pruned(model, tok, "out/wanda-2of4", report)

The math lives in pure functions under :mod:`prune_backend.methods` (one module per method);
:mod:`prune_backend.sequential` drives them layer by layer; methods are looked up by name in
:data:`METHODS` (entry-point group ``prune_backend.methods``). torch is imported only when one
of the heavy names is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prune_backend.config import PruneConfig
from prune_backend.registry import METHODS

if TYPE_CHECKING:
    from prune_backend.report import PruneReport
    from prune_backend.save import save_pruned
    from prune_backend.sequential import prune_model

__all__ = ["METHODS", "PruneConfig", "PruneReport", "prune_model", "save_pruned"]

_LAZY = {
    "prune_model": "prune_backend.sequential",
    "save_pruned": "prune_backend.save",
    "PruneReport": "prune_backend.report",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'prune_backend' has no attribute {name!r}")
