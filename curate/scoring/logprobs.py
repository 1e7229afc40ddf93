"""The token log-prob kernel: every per-token model quantity in curate comes from here.

    from curate.scoring.logprobs import token_logprobs
    out = token_logprobs(model, input_ids, attention_mask)   # input_ids (B, T), mask (B, T) or None
    out["token_logp"]        # (M,) log p(x_{t+1} | x_<=t) of the M real predicted tokens, row-major
    out["valid"]             # (B, T-1) bool: which (row, position) pairs those M values belong to
    token_logprobs(model, ids, moments=True)["sigma"]   # + mu, sigma, entropy (Min-K%++, entropy)

Callers: the model scores (:mod:`curate.scoring.model_scores`: ppl, Min-K%, Min-K%++, entropy),
through them the perplexity filter and IGSP, evaluation perplexity
(:mod:`curate.evaluate.perplexity`) and the benchmarks (which use the evaluation perplexity).

How it stays cheap:

1. the model's *base* (``model.get_decoder()``: embeddings, decoder layers, final norm) runs
   once and returns hidden states (B, T, C); the (B, T, V) logits tensor is never built (for
   SmolLM2, 8 x 512 fp32 logits alone are 805 MB);
2. only positions ``t`` where both ``x_t`` and ``x_{t+1}`` are real tokens are gathered, (M, C),
   and ``lm_head`` runs on them ``rows`` at a time, (m, V) fp32 per chunk;
3. the final logit soft-cap of models that have one (Gemma 2: ``config.final_logit_softcapping``,
   ``logits = cap * tanh(logits / cap)``) is applied per chunk, as the model's own forward does.

Padding: ``attention_mask`` marks the real tokens; left and right padding both work, and the
position ids count real tokens only (``cumsum(mask) - 1``), so a padded row scores exactly as
the same tokens alone (a plain forward would shift the positions of a left-padded row).
"""

from __future__ import annotations

import typing
from typing import Any

import torch

from curate.errors import CurateError

# Bytes for the (m, V) fp32 buffers of one lm_head chunk (logits, log-probs, p, centred
# log-probs: ~4 copies when moments are needed): 256 MB -> m = 325 positions for a 49k vocabulary,
# large enough for an efficient matmul.
DEFAULT_CHUNK_BYTES = 256 * 2**20


def split_head(model) -> tuple[torch.nn.Module, torch.nn.Module, float | None]:
    """(base decoder returning hidden states, lm_head, final logit soft-cap or None) of a causal LM."""
    base = model.get_decoder() if hasattr(model, "get_decoder") else getattr(model, "model", None)
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if base is None or head is None or base is model:
        raise CurateError(f"cannot split {type(model).__name__} into a base model and an lm_head",
                          hint="use a *ForCausalLM model")
    cap = getattr(model.config, "final_logit_softcapping", None)  # Gemma 2/3 cap their logits
    return base, head, cap


def rows_per_chunk(vocab: int, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> int:
    """Positions per lm_head chunk: ~4 fp32 (m, V) buffers live at once."""
    return max(1, chunk_bytes // (4 * vocab * 4))


def head_logprobs(hidden: torch.Tensor, targets: torch.Tensor, head: torch.nn.Module, cap: float | None = None,
                  *, moments: bool = False, greedy: bool = False, rows: int = 256) -> dict[str, torch.Tensor]:
    """Per-position statistics from hidden states (M, C) and next tokens (M,), ``rows`` at a time.

    Returns (M,) fp32 tensors on the hidden states' device: ``token_logp`` always; with
    ``moments`` also ``mu`` (E_p[log p]), ``sigma`` (sqrt Var_p[log p], the Min-K%++ normaliser)
    and ``entropy`` (-mu), from the same chunk of logits; with ``greedy`` a bool ``is_greedy``
    (the target is the argmax, lm-eval's exact-match flag).
    """
    from curate.scoring import functional as F

    parts: dict[str, list[torch.Tensor]] = {}
    for c0 in range(0, hidden.shape[0], rows):
        logits = head(hidden[c0:c0 + rows]).float()  # (m, V)
        if cap:
            logits = torch.tanh(logits / cap) * cap
        tgt = targets[c0:c0 + rows]  # (m,)
        if moments:
            stats = F.token_stats(logits, tgt)
        else:  # log p(target) only: logsumexp + gather, no (m, V) temporaries
            stats = {"token_logp": logits.gather(-1, tgt.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(logits, -1)}
        if greedy:
            stats = {**stats, "is_greedy": _is_argmax(logits, tgt)}
        for key, value in stats.items():
            parts.setdefault(key, []).append(value)
        del logits
    if not parts:  # nothing predicted
        keys = ("token_logp", "mu", "sigma", "entropy") if moments else ("token_logp",)
        out = {k: hidden.new_zeros(0, dtype=torch.float32) for k in keys}
        return {**out, "is_greedy": hidden.new_zeros(0, dtype=torch.bool)} if greedy else out
    return {key: torch.cat(v) for key, v in parts.items()}


def _is_argmax(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """(m,) bool: ``logits.argmax(-1) == targets`` for logits (m, V), at the cost of one ``amax``
    (~5x cheaper than ``argmax`` on a 49k vocabulary, measured on 1 CPU thread): only the rows
    whose target reaches the maximum run ``argmax``, which settles ties as ``argmax`` does (the
    first maximum wins), so the flag is the same as lm-eval's."""
    hit = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1) >= logits.amax(-1)  # (m,)
    rows = hit.nonzero().squeeze(-1)
    if rows.numel():
        hit[rows] = logits[rows].argmax(-1) == targets[rows]
    return hit


@torch.inference_mode()
def token_logprobs(model, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, *,
                   moments: bool = False, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> dict[str, torch.Tensor]:
    """Log-probs (and optionally distribution moments) of every real next token of a batch.

    ``input_ids`` (B, T) LongTensor; ``attention_mask`` (B, T) with 1 on real tokens (None: all
    real). Returns ``valid`` (B, T-1) bool on the CPU -- position t of row b predicts a real token
    from a real token -- and (M,) fp32 CPU tensors in row-major order of ``valid``:
    ``token_logp`` and, with ``moments``, ``mu``, ``sigma``, ``entropy``. Split per row with
    ``out["token_logp"].split(out["valid"].sum(1).tolist())``.
    """
    if input_ids.dim() != 2:
        raise CurateError(f"input_ids must be (B, T), got shape {tuple(input_ids.shape)}")
    B, T = input_ids.shape
    split_head(model)  # fail early, before any work, on a model without an lm_head
    if attention_mask is None:
        mask = torch.ones(B, T, dtype=torch.bool)
    else:
        mask = torch.as_tensor(attention_mask).bool().cpu()
        if mask.shape != input_ids.shape:
            raise CurateError(f"attention_mask shape {tuple(mask.shape)} differs from input_ids {tuple(input_ids.shape)}")
    valid = mask[:, :-1] & mask[:, 1:]  # (B, T-1)
    if T < 2 or not bool(valid.any()):
        empty = torch.zeros(0, dtype=torch.float32)
        keys = ("token_logp", "mu", "sigma", "entropy") if moments else ("token_logp",)
        return {"valid": valid, **{k: empty for k in keys}}
    attention_mask = position_ids = None
    if not bool(mask.all()):
        # Padding: attend to real tokens only, and number positions by real tokens seen so far.
        attention_mask = mask.long()
        position_ids = (mask.long().cumsum(-1) - 1).clamp_min(0)
    # All real (the usual case) -> no mask: SDPA takes its pure causal fast path.
    select = torch.zeros(B, T, dtype=torch.bool)
    select[:, :-1] = valid
    targets = input_ids[:, 1:][valid]  # (M,)
    rows, cols = select.nonzero(as_tuple=True)  # (M,) each
    stats = gathered_logprobs(model, input_ids, (rows, cols), targets, attention_mask=attention_mask,
                              position_ids=position_ids, moments=moments, chunk_bytes=chunk_bytes)
    return {"valid": valid, **stats}


@torch.inference_mode()
def gathered_logprobs(model, input_ids: torch.Tensor, index: tuple[torch.Tensor, torch.Tensor], targets: torch.Tensor, *,
                      attention_mask: torch.Tensor | None = None, position_ids: torch.Tensor | None = None,
                      moments: bool = False, greedy: bool = False,
                      chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> dict[str, torch.Tensor]:
    """The kernel's core: one base forward, lm_head on the selected positions only.

    ``input_ids`` (B, T); ``index`` = (rows (M,), positions (M,)) LongTensors: the positions whose
    next-token distribution is wanted, in the order of ``targets`` (M,); a position may appear
    several times (a shared context's last token predicts the first token of every choice). ``attention_mask`` is (B, T) (1 = real)
    or a prepared (B, 1, T, T) mask (bool, True = may attend), e.g. several continuations packed
    after one shared context, each seeing the context and itself only; ``position_ids`` (B, T)
    then restart each packed segment where it would start alone. Returns (M,) CPU tensors:
    ``token_logp`` (fp32), with ``moments`` mu/sigma/entropy, with ``greedy`` ``is_greedy``.
    """
    base, head, cap = split_head(model)
    device = next(model.parameters()).device
    kwargs: dict[str, Any] = {}
    if attention_mask is not None:
        mask = attention_mask.to(device)
        if mask.dim() == 4:
            # A prepared mask is used as given by every layer: the sliding-window layers' window
            # (Gemma 2/3, gpt-oss, Mistral) has to be in it, per layer type, counted in positions.
            masks = layer_type_masks(model.config, mask, position_ids)
            if mask.dtype == torch.bool and _attn_impl(model) == "eager":
                # eager attention adds the mask to the scores: 0 where allowed, a large negative elsewhere
                dt = next(model.parameters()).dtype
                masks = {k: torch.zeros(m.shape, dtype=dt, device=device).masked_fill(~m, torch.finfo(dt).min)
                         for k, m in masks.items()}
            kwargs["attention_mask"] = masks if len(masks) > 1 else next(iter(masks.values()))
        else:
            kwargs["attention_mask"] = mask
    if position_ids is not None:
        kwargs["position_ids"] = position_ids.to(device)
    hidden = base(input_ids=input_ids.long().to(device), use_cache=False, **kwargs).last_hidden_state  # (B, T, C)
    h = hidden[index[0].to(device), index[1].to(device)]  # (M, C)
    del hidden
    stats = head_logprobs(h, targets.long().to(device), head, cap, moments=moments, greedy=greedy,
                          rows=rows_per_chunk(int(typing.cast(torch.Tensor, head.weight).shape[0]), chunk_bytes))
    return {k: t.cpu() for k, t in stats.items()}


def layer_type_masks(config, mask: torch.Tensor, position_ids: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """{layer type: (B, 1, T, T) bool mask} for a prepared mask (True = may attend).

    A model without sliding-window layers gets ``{"full_attention": mask}``. A sliding layer of
    window W lets query q see key k only if pos(q) - pos(k) < W (transformers' sliding mask, here in
    ``position_ids`` (B, T) so that packed segments keep their own distances). Mixed layer types
    (Gemma 3: 5 sliding, 1 full) get one mask each, which the model's forward takes as a dict keyed
    by ``config.layer_types``; a model whose layers all slide (Mistral) gets the windowed one only.
    """
    cfg = getattr(config, "text_config", None) or config
    window = getattr(cfg, "sliding_window", None)
    declared = getattr(cfg, "layer_types", None)
    if declared:
        types = set(declared)
    elif window and getattr(cfg, "use_sliding_window", True):
        types = {"sliding_attention"}
    else:
        types = {"full_attention"}
    out: dict[str, torch.Tensor] = {}
    for t in sorted(types):
        if t == "full_attention":
            out[t] = mask
        elif t == "sliding_attention" and window:
            pos = position_ids if position_ids is not None else torch.arange(mask.shape[-1]).expand(mask.shape[0], -1)
            pos = pos.to(mask.device)
            near = (pos[:, :, None] - pos[:, None, :]) < int(window)  # (B, T, T): query x key
            out[t] = mask & near[:, None]
        else:
            raise CurateError(f"attention layer type {t!r} of {type(config).__name__} is unknown to the packed "
                              "log-likelihood kernel", hint="score this model with run_tasks(..., backend='hf') (lm-eval's HFLM)")
    return out


def _attn_impl(model) -> str:
    return str(getattr(model.config, "_attn_implementation", None) or "eager")


__all__ = ["DEFAULT_CHUNK_BYTES", "gathered_logprobs", "head_logprobs", "rows_per_chunk", "split_head", "token_logprobs"]
