"""Generation backends for self-generated calibration data.

    from curate.generation import GENERATION_BACKENDS, SamplingConfig
    backend = GENERATION_BACKENDS.get("transformers")(model, tokenizer, batch_size=16)
    continuations = backend.generate(prompts, max_new_tokens=[124, 127], cfg=SamplingConfig(), seed=0)

``transformers`` runs batched ``model.generate`` with the KV cache on CPU or CUDA; ``vllm`` runs
the same interface on vLLM (imported only when chosen; clear error where it is absent). A recipe
names one with ``{type: generate, backend: <name>}``; a new backend is one file with a class
following :class:`GenerationBackend` plus one registration line here (or an entry point in the
``curate.generation_backends`` group).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from curate.registry import Registry


class GenerationBackend(Protocol):
    """What the ``generate`` step needs of a backend."""

    @classmethod
    def from_context(cls, ctx: Any, *, seed: int, batch_size: int) -> GenerationBackend:
        """Make the backend for a build's :class:`~curate.context.RunContext`."""
        ...

    def generate(self, prompts: list[list[int]], max_new_tokens: list[int], cfg: SamplingConfig, seed: int,
                 progress: bool = True) -> list[list[int]]:
        """Continue each prompt (token ids) by exactly ``max_new_tokens[i]`` tokens."""
        ...


GENERATION_BACKENDS = Registry("generation backend", entry_point_group="curate.generation_backends")
GENERATION_BACKENDS.register("transformers", "curate.generation.hf_backend:TransformersBackend")
GENERATION_BACKENDS.register("vllm", "curate.generation.vllm_backend:VLLMBackend")


@dataclass(frozen=True)
class SamplingConfig:
    """Sampling parameters; paper defaults of Ji et al. 2024 (top-p 0.95, top-k 50, T 0.6-0.8,
    repetition penalty 1.2)."""

    temperature: float = 0.8
    top_p: float = 0.95
    top_k: int | None = 50
    repetition_penalty: float = 1.2
    # Linear temperature schedule over generated positions (t_start, t_end) as in Williams et
    # al. 2024 (self-calibration); None = constant ``temperature``.
    temperature_schedule: tuple[float, float] | None = None
    schedule_tokens: int | None = None  # n: positions over which the schedule moves

    def to_dict(self) -> dict:
        return {"temperature": self.temperature, "top_p": self.top_p, "top_k": self.top_k,
                "repetition_penalty": self.repetition_penalty,
                "temperature_schedule": list(self.temperature_schedule) if self.temperature_schedule else None,
                "schedule_tokens": self.schedule_tokens}


__all__ = ["GENERATION_BACKENDS", "GenerationBackend", "SamplingConfig"]
