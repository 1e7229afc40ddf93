"""Generation backends for self-generated calibration data.

    from curate.generation import GENERATION_BACKENDS, SamplingConfig
    backend = GENERATION_BACKENDS.get("transformers")(model, tokenizer, batch_size=16)
    continuations = backend.generate(prompts, max_new_tokens=[124, 127], cfg=SamplingConfig(), seed=0)

``transformers`` runs batched ``model.generate`` with the KV cache on CPU or CUDA; ``vllm`` runs
the same interface on vLLM (imported only when chosen; clear error where it is absent). A recipe
names one with ``{type: generate, backend: <name>}``; a new backend is one file with a class
following :class:`~curate.generation.base.GenerationBackend` plus one registration line here (or an entry point in the
``curate.generation_backends`` group).
"""

from __future__ import annotations

from curate.generation.base import GenerationBackend, SamplingConfig
from curate.registry import Registry

GENERATION_BACKENDS = Registry("generation backend", entry_point_group="curate.generation_backends")
GENERATION_BACKENDS.register("transformers", "curate.generation.hf_backend:TransformersBackend")
GENERATION_BACKENDS.register("vllm", "curate.generation.vllm_backend:VLLMBackend")

__all__ = ["GENERATION_BACKENDS", "GenerationBackend", "SamplingConfig"]
