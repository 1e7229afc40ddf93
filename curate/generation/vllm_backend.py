"""vLLM generation backend (GPU). Imported only when a recipe says ``backend: vllm``.

Same contract as the transformers backend: prompts are token ids, each continued by exactly
``max_new_tokens[i]`` tokens (``min_tokens`` suppresses EOS), seeded per request.
"""

from __future__ import annotations

from curate.errors import CurateError, requires
from curate.generation.base import SamplingConfig


class VLLMBackend:
    name = "vllm"

    def __init__(self, model_path: str, tokenizer, dtype: str = "auto", seed: int = 0,
                 gpu_memory_utilization: float = 0.85, llm=None, **_):
        self.tokenizer = tokenizer
        if llm is None:
            vllm = requires("vllm", extra="vllm", what="the vllm generation backend")
            llm = vllm.LLM(model=model_path, tokenizer=model_path, dtype=dtype, seed=seed,
                           gpu_memory_utilization=gpu_memory_utilization)
        self.llm = llm

    @classmethod
    def from_context(cls, ctx, *, seed: int, batch_size: int) -> VLLMBackend:
        """vLLM loads the run's model from its path (vLLM batches by itself)."""
        return cls(ctx.model_info.path, ctx.tokenizer, seed=seed)

    def generate(self, prompts: list[list[int]], max_new_tokens: list[int], cfg: SamplingConfig, seed: int,
                 progress: bool = True) -> list[list[int]]:
        if cfg.temperature_schedule:
            raise CurateError("temperature_schedule is not supported by the vllm backend",
                              hint="use backend: transformers for self-calibration schedules")
        vllm = requires("vllm", extra="vllm", what="the vllm generation backend")
        from vllm.inputs import TokensPrompt

        params = [vllm.SamplingParams(n=1, temperature=cfg.temperature, top_p=cfg.top_p, top_k=cfg.top_k or -1,
                                      repetition_penalty=cfg.repetition_penalty, max_tokens=m, min_tokens=m,
                                      seed=seed * 1_000_003 + i)
                  for i, m in enumerate(max_new_tokens)]
        outs = self.llm.generate([TokensPrompt(prompt_token_ids=p) for p in prompts], params, use_tqdm=progress)
        return [list(o.outputs[0].token_ids)[:m] for o, m in zip(outs, max_new_tokens, strict=True)]
