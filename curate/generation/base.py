"""What a generation backend is: the :class:`GenerationBackend` protocol and :class:`SamplingConfig`.

    from curate.generation.base import SamplingConfig
    SamplingConfig(temperature=0.6).to_dict()    # what a manifest records of the sampling
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


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
