"""Model-based scores (perplexity, Min-K%, Min-K%++, entropy) from ONE forward pass per batch.

    from curate.models import load_model
    from curate.scoring import compute_model_scores
    model, tok, _ = load_model("smollm2-135m")
    ids = tok(["The cat sat on the mat."] * 2, return_tensors="pt").input_ids
    scores = compute_model_scores(model, ids, scores=("ppl", "min_k_pp"), k=0.5)
    scores["ppl"]        # FloatTensor (N,)

How the pass is organised (why it is cheap):

1. sequences are sorted by length (longest first) and batched, so padding stays small;
2. the model's *base* (``model.get_decoder()``, the decoder stack + final norm) runs once per
   batch and returns hidden states (B, T, C) -- the (B, T, V) logits tensor is never built;
3. only positions that predict a real next token are gathered, (M, C), and ``lm_head`` is
   applied to them chunk by chunk, (m, V) fp32 at a time; every requested score is reduced from
   the same chunk (log-softmax once, first and second moments of log p under p);
4. the per-position statistics (M,) are split back per sample and reduced to per-sample scores,
   returned in the caller's order.

Papers: Min-K% (Shi et al. 2024, https://arxiv.org/abs/2310.16789); Min-K%++ (Zhang et al.
2024, https://arxiv.org/abs/2404.02936).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from curate.errors import CurateError
from curate.scoring import functional as F

MODEL_SCORES = ("ppl", "min_k", "min_k_pp", "entropy")
# Scores that need the full distribution (moments over V), not only log p of the target.
_NEEDS_MOMENTS = {"min_k_pp", "entropy"}
# Bytes for the (m, V) fp32 buffers of one lm_head chunk (logits, log-probs, p, centred log-probs):
# 256 MB -> m = 325 positions for a 49k vocabulary, large enough for an efficient matmul.
DEFAULT_CHUNK_BYTES = 256 * 2**20


def _as_sequences(input_ids: Any, attention_mask: Any) -> list[torch.Tensor]:
    """Normalise the accepted inputs to a list of 1-D LongTensors holding only real tokens."""
    if isinstance(input_ids, torch.Tensor):
        if input_ids.dim() == 1:
            input_ids = input_ids.unsqueeze(0)
        if input_ids.dim() != 2:
            raise CurateError(f"input_ids must be (N, L), got shape {tuple(input_ids.shape)}")
        if attention_mask is None:
            return list(input_ids.long().cpu())
        mask = torch.as_tensor(attention_mask).bool().cpu()
        if mask.shape != input_ids.shape:
            raise CurateError(f"attention_mask shape {tuple(mask.shape)} differs from input_ids {tuple(input_ids.shape)}")
        # Works for left and right padding alike: keep the masked-in tokens in order.
        return [row[m] for row, m in zip(input_ids.long().cpu(), mask, strict=True)]
    if attention_mask is not None:
        raise CurateError("attention_mask is only accepted with an (N, L) tensor of input_ids",
                          hint="pass unpadded 1-D sequences instead")
    return [torch.as_tensor(s, dtype=torch.long).flatten().cpu() for s in input_ids]


def _head(model) -> tuple[torch.nn.Module, torch.nn.Module, float | None]:
    """(base decoder returning hidden states, lm_head, final logit soft-cap or None)."""
    base = model.get_decoder() if hasattr(model, "get_decoder") else getattr(model, "model", None)
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if base is None or head is None or base is model:
        raise CurateError(f"cannot split {type(model).__name__} into a base model and an lm_head",
                          hint="use a *ForCausalLM model")
    cap = getattr(model.config, "final_logit_softcapping", None)  # Gemma 2/3 cap their logits
    return base, head, cap


def _reduce(stats: dict[str, torch.Tensor], wanted: Sequence[str], k: float) -> dict[str, float]:
    """Per-sample scores from one sample's per-position statistics (each (T-1,))."""
    out: dict[str, float] = {}
    lp = stats["token_logp"]
    if "ppl" in wanted:
        out["ppl"] = F.perplexity(lp)
    if "min_k" in wanted:
        out["min_k"] = F.min_k_percent(lp, k)
    if "min_k_pp" in wanted:
        out["min_k_pp"] = F.min_k_percent(F.min_k_pp_positions(lp, stats["mu"], stats["sigma"]), k)
    if "entropy" in wanted:
        out["entropy"] = float(stats["entropy"].double().mean()) if lp.numel() else float("nan")
    return out


@torch.inference_mode()
def compute_model_scores(
    model,
    input_ids: torch.Tensor | Sequence[Any],
    attention_mask: torch.Tensor | None = None,
    scores: Sequence[str] = MODEL_SCORES,
    k: float = 0.5,
    batch_size: int = 8,
    progress: bool = True,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> dict[str, torch.Tensor]:
    """Score N sequences with one forward pass per batch; returns name -> FloatTensor (N,).

    ``input_ids``: LongTensor (N, L) (with an optional ``attention_mask``), or a list of 1-D
    sequences of different lengths (padded and length-sorted internally). ``scores``: any of
    ``ppl`` (exp of the mean NLL of the predicted tokens), ``min_k`` (mean of the lowest ``k``
    fraction of token log-probs, Shi et al.), ``min_k_pp`` (same over (log p - mu) / sigma,
    Zhang et al.), ``entropy`` (mean next-token entropy, nats). A sequence of fewer than two
    tokens predicts nothing and scores nan.
    """
    wanted = list(dict.fromkeys(scores))
    unknown = [s for s in wanted if s not in MODEL_SCORES]
    if unknown:
        raise CurateError(f"unknown model score {unknown[0]!r}", hint=f"choose from {', '.join(MODEL_SCORES)}")
    if not 0.0 < k <= 1.0:
        raise CurateError(f"k={k} is out of range", hint="k is a fraction in (0, 1], e.g. 0.2 for Min-20%")
    seqs = _as_sequences(input_ids, attention_mask)
    n = len(seqs)
    result = {name: torch.full((n,), float("nan"), dtype=torch.float32) for name in wanted}
    if n == 0 or not wanted:
        return result

    base, head, cap = _head(model)
    device = next(model.parameters()).device
    moments = bool(_NEEDS_MOMENTS & set(wanted))
    vocab = head.weight.shape[0]
    # (m, V) fp32 logits + log-probs + p + p*log p live at once: ~4 copies.
    rows_per_chunk = max(1, chunk_bytes // (4 * vocab * 4))
    order = sorted(range(n), key=lambda i: -len(seqs[i]))  # longest first: OOM shows up at once
    pad_id = 0

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=sum(len(s) for s in seqs), unit="tok", desc="scoring", leave=False)
    for start in range(0, n, batch_size):
        idx = order[start:start + batch_size]
        batch = [seqs[i] for i in idx]
        lens = torch.tensor([len(s) for s in batch])
        T = int(lens.max())
        if T < 2:
            if bar:
                bar.update(int(lens.sum()))
            continue
        ids = torch.full((len(batch), T), pad_id, dtype=torch.long)
        mask = torch.arange(T).unsqueeze(0) < lens.unsqueeze(1)  # (B, T) right padding
        for r, s in enumerate(batch):
            ids[r, : len(s)] = s
        ids = ids.to(device)
        # Equal lengths -> no mask: lets SDPA take its pure causal fast path.
        am = None if bool((lens == T).all()) else mask.long().to(device)
        hidden = base(input_ids=ids, attention_mask=am, use_cache=False).last_hidden_state  # (B, T, C)
        # Position t predicts token t+1; keep only pairs where both are real tokens.
        valid = (mask[:, :-1] & mask[:, 1:]).to(device)  # (B, T-1)
        h = hidden[:, :-1][valid]  # (M, C)
        targets = ids[:, 1:][valid]  # (M,)
        parts: dict[str, list[torch.Tensor]] = {"token_logp": [], "mu": [], "sigma": [], "entropy": []}
        for c0 in range(0, h.shape[0], rows_per_chunk):
            logits = head(h[c0:c0 + rows_per_chunk]).float()  # (m, V)
            if cap:
                logits = torch.tanh(logits / cap) * cap
            tgt = targets[c0:c0 + rows_per_chunk]
            if moments:
                st = F.token_stats(logits, tgt)
                for key in parts:
                    parts[key].append(st[key].cpu())
            else:  # ppl / min_k only need log p(target): logsumexp + gather, no (m, V) temporaries
                lp = logits.gather(-1, tgt.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(logits, -1)
                parts["token_logp"].append(lp.cpu())
            del logits
        per_row = valid.sum(1).cpu().tolist()
        split = {key: torch.cat(v).split(per_row) for key, v in parts.items() if v}
        for r, i in enumerate(idx):
            row_stats = {key: chunks[r] for key, chunks in split.items()}
            for name, value in _reduce(row_stats, wanted, k).items():
                result[name][i] = value
        if bar:
            bar.update(int(lens.sum()))
    if bar:
        bar.close()
    return result
