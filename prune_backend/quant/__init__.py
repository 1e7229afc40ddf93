"""Weight-only post-training quantization of Llama-like LLMs: GPTQ and round-to-nearest.

    from transformers import AutoModelForCausalLM, AutoTokenizer
    from prune_backend.quant import QuantConfig, quantize_model
    from prune_backend import save_pruned
    model = AutoModelForCausalLM.from_pretrained("HuggingFaceTB/SmolLM2-135M")
    tok = AutoTokenizer.from_pretrained("HuggingFaceTB/SmolLM2-135M")
    ids = tok(["The quick brown fox jumps over the lazy dog. " * 60] * 8, return_tensors="pt").input_ids[:, :256]
    report = quantize_model(model, ids, QuantConfig(method="gptq", bits=4, group_size=128))
    save_pruned(model, tok, "out/gptq-w4g128", report)   # reloads with from_pretrained

Weights are fake-quantized (quantized, then dequantized into the model's dtype), so the model
evaluates and saves like any other. The math lives in pure functions: :mod:`.grid` (scale /
zero point, round-to-nearest) and :mod:`.gptq` (GPTQ); :mod:`.driver` runs them layer by layer
through :mod:`prune_backend.sequential`. torch is imported only when a heavy name is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prune_backend.quant.config import QuantConfig

if TYPE_CHECKING:
    from prune_backend.quant.driver import quantize_model
    from prune_backend.report import QuantReport

__all__ = ["QuantConfig", "QuantReport", "quantize_model"]

_LAZY = {"quantize_model": "prune_backend.quant.driver", "QuantReport": "prune_backend.report"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'prune_backend.quant' has no attribute {name!r}")
