"""Batched sampling with transformers' ``generate`` and the KV cache.

Prompts are grouped by length so that a batch never needs padding (the prefixes of Ji et al.
are 0-4 tokens, so there are at most a handful of groups); each batch is seeded from
(seed, batch index) so a build is reproducible whatever the batch boundaries of other groups.
EOS is suppressed until the sequence reaches L tokens (``min_new_tokens``): a calibration row
must have exactly L tokens.
"""

from __future__ import annotations

from collections import defaultdict

from curate.generation import SamplingConfig


class ScheduledTemperature:
    """LogitsProcessor dividing logits by a temperature that moves linearly from t_start (first
    generated token) to t_end (last), as in the self-calibration schedule of Williams et al. 2024."""

    def __init__(self, t_start: float, t_end: float, prompt_len: int, max_new_tokens: int):
        self.t_start, self.t_end = t_start, t_end
        self.prompt_len, self.max_new = prompt_len, max(1, max_new_tokens)

    def temperature(self, step: int) -> float:
        frac = min(1.0, step / max(1, self.max_new - 1))
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

    def generate(self, prompts: list[list[int]], max_new_tokens: list[int], cfg: SamplingConfig, seed: int,
                 progress: bool = True) -> list[list[int]]:
        """Continue each prompt by exactly ``max_new_tokens[i]`` sampled tokens."""
        import torch
        from tqdm.auto import tqdm
        from transformers import LogitsProcessorList

        groups: dict[tuple[int, int], list[int]] = defaultdict(list)
        for i, (p, m) in enumerate(zip(prompts, max_new_tokens, strict=True)):
            groups[(len(p), m)].append(i)
        out: list[list[int] | None] = [None] * len(prompts)
        total = sum(max_new_tokens)
        bar = tqdm(total=total, desc="self-generation", unit="tok", disable=not progress)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        batch_no = 0
        for (plen, m), idx in sorted(groups.items()):
            for b in range(0, len(idx), self.batch_size):
                chunk = idx[b:b + self.batch_size]
                ids = torch.tensor([prompts[i] for i in chunk], dtype=torch.long, device=self.device)  # (B, k)
                kwargs = dict(do_sample=True, top_p=cfg.top_p, top_k=cfg.top_k or 0,
                              repetition_penalty=cfg.repetition_penalty, max_new_tokens=m, min_new_tokens=m,
                              pad_token_id=pad, use_cache=True)
                if cfg.temperature_schedule:
                    kwargs["temperature"] = 1.0
                    kwargs["logits_processor"] = LogitsProcessorList(
                        [ScheduledTemperature(*cfg.temperature_schedule, prompt_len=plen, max_new_tokens=m)])
                else:
                    kwargs["temperature"] = cfg.temperature
                torch.manual_seed(seed * 1_000_003 + batch_no)
                batch_no += 1
                with torch.inference_mode():
                    gen = self.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), **kwargs)  # (B, k+m)
                for row, i in zip(gen[:, plen:].tolist(), chunk, strict=True):
                    out[i] = row[:m]
                bar.update(m * len(chunk))
        bar.close()
        return out  # type: ignore[return-value]
