"""Batched sampling with transformers' ``generate`` and the KV cache.

Prompts are left-padded to the longest prefix of their batch (prefixes of Ji et al. are 1-4
tokens, so padding costs at most 3 positions); each batch is seeded from (seed, batch index), so
a build is reproducible for a given batch size.
EOS is suppressed until the sequence reaches L tokens (``min_new_tokens``): a calibration row
must have exactly L tokens.
"""

from __future__ import annotations

from curate.generation import SamplingConfig


class ScheduledTemperature:
    """LogitsProcessor for the self-calibration temperature schedule (Williams et al. 2024, §3.2):
    t_i = t_initial + (i / n) (t_final - t_initial) for generated position i <= n, then t_final.
    ``n`` defaults to the whole generation (the last token is sampled at t_final)."""

    def __init__(self, t_start: float, t_end: float, prompt_len: int, max_new_tokens: int, n: int | None = None):
        self.t_start, self.t_end = t_start, t_end
        self.prompt_len = prompt_len
        self.n = max(1, (n if n is not None else max_new_tokens - 1))

    def temperature(self, step: int) -> float:
        frac = min(1.0, step / self.n)
        return self.t_start + (self.t_end - self.t_start) * frac

    def __call__(self, input_ids, scores):  # input_ids (B, T), scores (B, V)
        step = input_ids.shape[1] - self.prompt_len
        return scores / self.temperature(step)


class TransformersBackend:
    name = "transformers"

    def __init__(self, model, tokenizer, batch_size: int = 8, device: str | None = None):
        self.model, self.tokenizer = model, tokenizer
        self.batch_size = batch_size
        self.device = device or str(next(model.parameters()).device)

    @classmethod
    def from_context(cls, ctx, *, seed: int, batch_size: int) -> TransformersBackend:
        """The run's loaded model; batches are seeded in :meth:`generate`."""
        return cls(ctx.model, ctx.tokenizer, batch_size=batch_size)

    def generate(self, prompts: list[list[int]], max_new_tokens: list[int], cfg: SamplingConfig, seed: int,
                 progress: bool = True) -> list[list[int]]:
        """Continue each prompt by exactly ``max_new_tokens[i]`` sampled tokens.

        Prompts of different lengths (prefixes of 1-4 tokens) share a batch by left padding;
        each batch generates ``max(max_new_tokens)`` tokens and every row keeps its own count.
        """
        import torch
        from tqdm.auto import tqdm
        from transformers import LogitsProcessorList

        out: list[list[int]] = []
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        bar = tqdm(total=sum(max_new_tokens), desc="self-generation", unit="tok", disable=not progress)
        for batch_no, b in enumerate(range(0, len(prompts), self.batch_size)):
            chunk = prompts[b:b + self.batch_size]
            wants = max_new_tokens[b:b + self.batch_size]
            width, m = max(len(p) for p in chunk), max(wants)
            ids = torch.full((len(chunk), width), pad, dtype=torch.long)  # (B, k_max), left-padded
            mask = torch.zeros_like(ids)
            for r, p in enumerate(chunk):
                ids[r, width - len(p):] = torch.tensor(p, dtype=torch.long)
                mask[r, width - len(p):] = 1
            kwargs = dict(do_sample=True, top_p=cfg.top_p, top_k=cfg.top_k or 0,
                          repetition_penalty=cfg.repetition_penalty, max_new_tokens=m, min_new_tokens=m,
                          pad_token_id=pad, use_cache=True)
            if cfg.temperature_schedule:
                kwargs["temperature"] = 1.0
                kwargs["logits_processor"] = LogitsProcessorList(
                    [ScheduledTemperature(*cfg.temperature_schedule, prompt_len=width, max_new_tokens=m,
                                         n=cfg.schedule_tokens)])
            else:
                kwargs["temperature"] = cfg.temperature
            torch.manual_seed(seed * 1_000_003 + batch_no)
            with torch.inference_mode():
                gen = self.model.generate(input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                                          **kwargs)  # (B, k_max + m)
            for row, want in zip(gen[:, width:].tolist(), wants, strict=True):
                out.append(row[:want])
            bar.update(sum(wants))
        bar.close()
        return out
