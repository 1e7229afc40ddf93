"""Batched sampling with transformers' ``generate``, the KV cache and an on-device sampler.

    backend = TransformersBackend(model, tokenizer, batch_size=16)        # or batch_size="auto" on CUDA
    rows = backend.generate([[1, 450], [1]], [126, 127], SamplingConfig(), seed=0)

Prompts are left-padded to the longest prefix of their batch (prefixes of Ji et al. are 1-4
tokens, so padding costs at most 3 positions). EOS is suppressed until the sequence reaches L
tokens (``min_new_tokens``): a calibration row must have exactly L tokens.

Sampling (:func:`sample_top_k_top_p`) runs on the model's device inside ``generate``: the
repetition penalty and the EOS suppression are transformers' own processors, then temperature,
top-k *first* with ``torch.topk`` (no sort of the 49k-token vocabulary per step), top-p within
those k, and a draw by inverse CDF. transformers then takes that token by greedy argmax. The
distribution is the one of transformers' sampling warpers (temperature -> top-k -> top-p ->
softmax -> multinomial); tests/test_generation_sampling.py checks token frequencies against it.

Reproducibility: the uniform number for row r (its index in the whole prompt list) at step t
is a counter-based hash of (seed, r, t) made of exact integer ops, not a stateful generator.
So a row's tokens do not depend on the batch size or on which rows share its batch (up to the
model's own float noise across batch shapes), and the batch size can follow free GPU memory.
(Before this sampler, rows were drawn by ``torch.multinomial`` from a per-batch seed:
fingerprints of self-generated sets built before it differ; same recipe + same seed still
give the same set.)

On CUDA the decode step uses a static KV cache, which transformers compiles (``torch.compile``,
CUDA graphs) on first use: :meth:`TransformersBackend.warmup` pays that outside a timed part,
and every batch is padded to the full batch size so the compiled shapes never change. The
backend keeps **one** StaticCache per (batch, length) and resets it in place between batches:
transformers (5.x) allocates a new cache in every ``generate`` call, and new cache tensors are
new static-input addresses, so the CUDA graph was re-recorded at every decode step of every
batch after the first (measured on an H200: 63 re-recordings in a 64-step batch, the step
15-30 ms instead of a few; benchmarks/NOTES.md). On CPU the dynamic cache and eager decode are
faster.
"""

from __future__ import annotations

from typing import Any

import torch

from curate.generation.base import SamplingConfig

_M32 = 0xFFFFFFFF


def _hash32(x):
    """lowbias32 (C. Wellons) on a Python int or on int64 lanes holding 32-bit values: exact
    integer ops, so the same on every machine and device. Products exceed 2**63 only in wrapped
    high bits, which the mask drops."""
    x = x & _M32
    x = x ^ (x >> 16)
    x = (x * 0x7FEB352D) & _M32
    x = x ^ (x >> 15)
    x = (x * 0x846CA68B) & _M32
    return x ^ (x >> 16)


def row_uniforms(seed: int, rows: torch.Tensor, step: int) -> torch.Tensor:
    """One uniform in [0, 1) per row, a pure function of (seed, row id, step); (B,) fp32.

    24 random bits: exactly representable in fp32. The seed and step parts are hashed as Python
    ints, so a decode step adds no host-to-device copy."""
    h = _hash32(rows.to(torch.int64) + _hash32(int(seed)))
    h = _hash32(h ^ _hash32(int(step) * 0x9E3779B1 + 0x632BE5AB))
    return (h >> 8).to(torch.float32) * (1.0 / (1 << 24))


def top_k_top_p_probs(logits: torch.Tensor, top_k: int | None, top_p: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(probs (B, k) in descending order, token ids (B, k)) of the top-k / top-p distribution.

    Equal to transformers' TopKLogitsWarper -> TopPLogitsWarper -> softmax: a token is kept if
    it is among the k largest logits and the probability mass strictly above it (within those
    k) is below ``top_p``. ``torch.topk`` of k << V replaces the full-vocabulary sort; only
    without top-k is a sort needed.
    """
    V = logits.shape[-1]
    if top_k and top_k < V:
        vals, idx = torch.topk(logits, top_k, dim=-1)  # (B, k), sorted descending
    else:
        vals, idx = torch.sort(logits, dim=-1, descending=True)  # (B, V)
    probs = torch.softmax(vals.float(), dim=-1)  # (B, k)
    if top_p < 1.0:
        above = probs.cumsum(-1) - probs  # mass strictly above each token
        probs = probs.masked_fill(above >= top_p, 0.0)
        probs = probs / probs.sum(-1, keepdim=True)
    return probs, idx


def sample_top_k_top_p(logits: torch.Tensor, top_k: int | None, top_p: float, u: torch.Tensor) -> torch.Tensor:
    """Token ids (B,) drawn from the top-k / top-p distribution of ``logits`` (B, V) by inverse
    CDF with uniforms ``u`` (B,). Kept tokens are a prefix of the descending order, so the draw
    is clamped to that prefix (guards u * total rounding up to the total)."""
    probs, idx = top_k_top_p_probs(logits, top_k, top_p)
    cdf = probs.cumsum(-1)  # (B, k)
    pos = (cdf <= (u * cdf[:, -1]).unsqueeze(1)).sum(-1)  # first index whose cdf exceeds u * total
    pos = torch.minimum(pos, (probs > 0).sum(-1) - 1)
    return idx.gather(1, pos.unsqueeze(1)).squeeze(1)


class ScheduledTemperature:
    """The self-calibration temperature schedule (Williams et al. 2024, §3.2):
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


class DeviceSampler:
    """LogitsProcessor that samples the next token and returns scores where only that token is
    finite, so transformers' greedy argmax takes it. It runs after transformers' repetition
    penalty and EOS suppression (custom processors follow the built-in ones)."""

    def __init__(self, cfg: SamplingConfig, seed: int, rows: torch.Tensor, prompt_len: int, max_new_tokens: int):
        self.cfg, self.seed, self.rows, self.prompt_len = cfg, seed, rows, prompt_len  # rows: (B,) on the device
        self.schedule = (ScheduledTemperature(*cfg.temperature_schedule, prompt_len=prompt_len,
                                              max_new_tokens=max_new_tokens, n=cfg.schedule_tokens)
                         if cfg.temperature_schedule else None)

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:  # (B, T), (B, V)
        step = input_ids.shape[1] - self.prompt_len
        t = self.schedule.temperature(step) if self.schedule else self.cfg.temperature
        if t != 1.0:
            scores = scores / t
        u = row_uniforms(self.seed, self.rows, step)
        tok = sample_top_k_top_p(scores, self.cfg.top_k, self.cfg.top_p, u)  # (B,)
        out = torch.full_like(scores, float("-inf"))
        return out.scatter_(1, tok.unsqueeze(1), 0.0)


def kv_bytes_per_token(config: Any, dtype: torch.dtype) -> int:
    """Bytes of K and V for one token of one sequence across all layers."""
    heads = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    return 2 * config.num_hidden_layers * heads * head_dim * torch.finfo(dtype).bits // 8


def auto_batch_size(model, max_len: int, n_prompts: int, *, cap: int = 256, fraction: float = 0.8) -> int:
    """Largest batch whose static KV cache (max_len tokens) plus fp32 logits and sampling buffers
    fit in ``fraction`` of the free CUDA memory, at most ``cap`` and the number of prompts."""
    p = next(model.parameters())
    free, _ = torch.cuda.mem_get_info(p.device)
    vocab = model.config.vocab_size
    per_row = kv_bytes_per_token(model.config, p.dtype) * max_len + 6 * vocab * 4  # KV + logits/scores copies
    return max(1, min(cap, n_prompts, int(free * fraction) // per_row))


class TransformersBackend:
    name = "transformers"

    def __init__(self, model, tokenizer, batch_size: int | str = 8, device: str | None = None,
                 cache: str = "auto"):
        """``batch_size`` "auto": from free memory on CUDA (:func:`auto_batch_size`), 8 on CPU.
        ``cache``: "static" (compiled decode on CUDA), "dynamic", or "auto" = static on CUDA."""
        self.model, self.tokenizer = model, tokenizer
        self.batch_size = batch_size
        self.device = device or str(next(model.parameters()).device)
        on_cuda = torch.device(self.device).type == "cuda"
        self.cache = ("static" if on_cuda else "dynamic") if cache == "auto" else cache
        self._static: dict[tuple[int, int], Any] = {}  # (batch, max_cache_len) -> the one StaticCache
        self._cache_len = 0  # longest prompt + most new tokens of the current generate() call

    @property
    def pad_id(self) -> int:
        t = self.tokenizer
        return t.pad_token_id if t.pad_token_id is not None else t.eos_token_id

    def _batch_size(self, max_len: int, n: int) -> int:
        if self.batch_size != "auto":
            return int(self.batch_size)
        if torch.device(self.device).type != "cuda":
            return 8
        return auto_batch_size(self.model, max_len, n)

    def _generate_batch(self, chunk: list[list[int]], rows: list[int], m: int, cfg: SamplingConfig, seed: int,
                        full: int) -> torch.Tensor:
        """Continuations (len(chunk), m) of one left-padded batch, padded to ``full`` rows."""
        from transformers import LogitsProcessorList

        pad = self.pad_id
        if self.cache == "static" and len(chunk) < full:  # keep the compiled shapes: repeat row 0
            chunk = chunk + [chunk[0]] * (full - len(chunk))
            rows = rows + [-1 - i for i in range(full - len(rows))]
        width = max(len(p) for p in chunk)
        ids = torch.full((len(chunk), width), pad, dtype=torch.long)  # (B, k_max), left-padded
        mask = torch.zeros_like(ids)
        for r, p in enumerate(chunk):
            ids[r, width - len(p):] = torch.tensor(p, dtype=torch.long)
            mask[r, width - len(p):] = 1
        sampler = DeviceSampler(cfg, seed, torch.tensor(rows, dtype=torch.long, device=self.device), width, m)
        kwargs: dict[str, Any] = dict(do_sample=False, repetition_penalty=cfg.repetition_penalty, max_new_tokens=m,
                                      min_new_tokens=m, pad_token_id=pad, use_cache=True,
                                      logits_processor=LogitsProcessorList([sampler]),
                                      temperature=None, top_p=None, top_k=None)
        if self.cache == "static":
            kwargs[self._cache_kwarg()] = self._static_cache(len(chunk), max(width + m, self._cache_len))
        with torch.inference_mode():
            gen = self.model.generate(input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                                      **kwargs)  # (B, k_max + m)
        return gen[:, width:]

    def _cache_kwarg(self) -> str:
        """generate()'s name for a user cache: ``cache`` from transformers 5.2x, ``past_key_values`` before."""
        import inspect

        return "cache" if "cache" in inspect.signature(self.model.forward).parameters else "past_key_values"

    def _static_cache(self, batch: int, max_len: int):
        """The StaticCache of this shape, zeroed in place (same tensors, so the same CUDA-graph
        input addresses); a new shape replaces it (one cache held: its memory is the batch's)."""
        from transformers import StaticCache

        cache = self._static.get((batch, max_len))
        if cache is None:
            self._static = {}  # free the old shape's tensors first
            cfg = self.model.config
            cache = StaticCache(config=cfg.get_text_config(decoder=True) if hasattr(cfg, "get_text_config") else cfg,
                                max_cache_len=max_len)
            self._static[(batch, max_len)] = cache
        else:
            with torch.inference_mode():  # its tensors were made inside generate's inference mode
                cache.reset()
        return cache

    def warmup(self, width: int, m: int, cfg: SamplingConfig | None = None, batch_size: int | None = None) -> None:
        """One throw-away batch of the real shape: compilation and allocator growth happen here."""
        bs = batch_size or self._batch_size(width + m, 1 << 30)
        self._generate_batch([[self.pad_id] * width], [0], m, cfg or SamplingConfig(), 0, bs)

    @classmethod
    def from_context(cls, ctx, *, seed: int, batch_size: int) -> TransformersBackend:
        """The run's loaded model; rows are seeded in :meth:`generate`."""
        return cls(ctx.model, ctx.tokenizer, batch_size=batch_size)

    def generate(self, prompts: list[list[int]], max_new_tokens: list[int], cfg: SamplingConfig, seed: int,
                 progress: bool = True) -> list[list[int]]:
        """Continue each prompt by exactly ``max_new_tokens[i]`` sampled tokens.

        Prompts of different lengths (prefixes of 1-4 tokens) share a batch by left padding;
        each batch generates ``max(max_new_tokens)`` tokens and every row keeps its own count.
        """
        from tqdm.auto import tqdm

        out: list[list[int]] = []
        # one cache length for every batch of this call (and a warm-up of the same shape)
        self._cache_len = max(map(len, prompts), default=1) + max(max_new_tokens, default=1)
        bs = self._batch_size(self._cache_len, len(prompts))
        bar = tqdm(total=sum(max_new_tokens), desc="self-generation", unit="tok", disable=not progress)
        for b in range(0, len(prompts), bs):
            chunk = prompts[b:b + bs]
            wants = max_new_tokens[b:b + bs]
            gen = self._generate_batch(chunk, list(range(b, b + len(chunk))), max(wants), cfg, seed, bs)
            for row, want in zip(gen[:len(chunk)].tolist(), wants, strict=True):
                out.append(row[:want])
            bar.update(sum(wants))
        bar.close()
        return out
