"""prune_backend: layer-wise post-training pruning of Llama-like LLMs (Wanda, SparseGPT, OWL, DSnoT).

    from transformers import AutoModelForCausalLM, AutoTokenizer
    from prune_backend import PruneConfig, prune_model, save_pruned
    model = AutoModelForCausalLM.from_pretrained("HuggingFaceTB/SmolLM2-135M")
    tok = AutoTokenizer.from_pretrained("HuggingFaceTB/SmolLM2-135M")
    ids = tok(["The quick brown fox jumps over the lazy dog. " * 60] * 8, return_tensors="pt").input_ids[:, :256]
    report = prune_model(model, ids, PruneConfig(method="wanda", pattern="2:4"))   # keep 2 of every 4
    save_pruned(model, tok, "out/wanda-2of4", report)

It stands alone on torch and transformers (plus pydantic for the config; polars only to write
the parquet report): curate imports it, never the reverse. The math lives in pure functions
under :mod:`prune_backend.methods` (one module per method); :mod:`prune_backend.sequential`
drives them layer by layer; methods are looked up by name in :data:`METHODS` (entry-point group
``prune_backend.methods``). Bad input raises :class:`PruneError`, one line. torch is imported
only when one of the heavy names is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prune_backend.config import PruneConfig
from prune_backend.errors import PruneError
from prune_backend.registry import METHODS

if TYPE_CHECKING:
    from prune_backend.layers import decoder_layers
    from prune_backend.report import PruneReport
    from prune_backend.save import save_pruned
    from prune_backend.sequential import prune_model

__all__ = ["METHODS", "PruneConfig", "PruneError", "PruneReport", "decoder_layers", "prune_model", "save_pruned"]

_LAZY = {
    "prune_model": "prune_backend.sequential",
    "save_pruned": "prune_backend.save",
    "PruneReport": "prune_backend.report",
    "decoder_layers": "prune_backend.layers",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'prune_backend' has no attribute {name!r}")
