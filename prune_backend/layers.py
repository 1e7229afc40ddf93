"""Where a causal LM keeps its decoder layers.

    from prune_backend.layers import decoder_layers
    decoder_layers(model)        # nn.ModuleList of LlamaDecoderLayer, for a LlamaForCausalLM
"""

from __future__ import annotations

from prune_backend.errors import PruneError


def decoder_layers(model):
    """The list of decoder layers of a Llama-like model (Llama, Mistral, Qwen2, Gemma, SmolLM2)."""
    inner = getattr(model, "model", None)
    for holder in (inner, getattr(inner, "language_model", None), getattr(model, "transformer", None)):
        if holder is not None:
            for attr in ("layers", "h"):
                if hasattr(holder, attr):
                    return getattr(holder, attr)
    raise PruneError(f"unsupported architecture {type(model).__name__}: no decoder layers found")
