"""Model-based scores (perplexity, Min-K%, Min-K%++, entropy) from ONE forward pass per batch.

    from curate.models import load_model
    from curate.scoring import compute_model_scores
    model, tok, _ = load_model("smollm2-135m")
    ids = tok(["The cat sat on the mat."] * 2, return_tensors="pt").input_ids
    scores = compute_model_scores(model, ids, scores=("ppl", "min_k_pp"), k=0.5)
    scores["ppl"]        # FloatTensor (N,)

How the pass is organised (why it is cheap):

1. sequences are sorted by length (longest first) and batched, so padding stays small;
2. each batch goes through the token log-prob kernel (:func:`curate.scoring.logprobs.token_logprobs`):
   one pass of the decoder, ``lm_head`` in chunks on the predicted positions only, never (B, T, V)
   logits; every requested statistic comes from the same chunk (log-softmax once, first and
   second moments of log p under p);
3. the per-position statistics (M,) are split back per sample and reduced to per-sample scores,
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
from curate.scoring.logprobs import DEFAULT_CHUNK_BYTES, token_logprobs

MODEL_SCORES = ("ppl", "min_k", "min_k_pp", "entropy")
# Scores that need the full distribution (moments over V), not only log p of the target.
_NEEDS_MOMENTS = {"min_k_pp", "entropy"}


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
    prefix: Sequence[int] = (),
) -> dict[str, torch.Tensor]:
    """Score N sequences with one forward pass per batch; returns name -> FloatTensor (N,).

    ``input_ids``: LongTensor (N, L) (with an optional ``attention_mask``), or a list of 1-D
    sequences of different lengths (padded and length-sorted internally). ``scores``: any of
    ``ppl`` (exp of the mean NLL of the predicted tokens), ``min_k`` (mean of the lowest ``k``
    fraction of token log-probs, Shi et al.), ``min_k_pp`` (same over (log p - mu) / sigma,
    Zhang et al.), ``entropy`` (mean next-token entropy, nats). A sequence of fewer than two
    tokens predicts nothing and scores nan. ``prefix`` (the model's <bos>,
    :func:`curate.models.bos_prefix`) is put before every sequence that does not start with it, so
    that every token of the sequence is predicted, the first one from <bos>.
    """
    wanted = list(dict.fromkeys(scores))
    unknown = [s for s in wanted if s not in MODEL_SCORES]
    if unknown:
        raise CurateError(f"unknown model score {unknown[0]!r}", hint=f"choose from {', '.join(MODEL_SCORES)}")
    if not 0.0 < k <= 1.0:
        raise CurateError(f"k={k} is out of range", hint="k is a fraction in (0, 1], e.g. 0.2 for Min-20%")
    seqs = _as_sequences(input_ids, attention_mask)
    if prefix:
        head = torch.tensor(list(prefix), dtype=torch.long)
        seqs = [q if len(q) >= len(head) and bool((q[:len(head)] == head).all()) else torch.cat([head, q])
                for q in seqs]
    n = len(seqs)
    result = {name: torch.full((n,), float("nan"), dtype=torch.float32) for name in wanted}
    if n == 0 or not wanted:
        return result

    moments = bool(_NEEDS_MOMENTS & set(wanted))
    order = sorted(range(n), key=lambda i: -len(seqs[i]))  # longest first: OOM shows up at once

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=sum(len(s) for s in seqs), unit="tok", desc="scoring", leave=False)
    for start in range(0, n, batch_size):
        idx = order[start:start + batch_size]
        batch = [seqs[i] for i in idx]
        lens = torch.tensor([len(s) for s in batch])
        T = int(lens.max())
        ids = torch.zeros((len(batch), T), dtype=torch.long)  # right padding; pads are masked out
        mask = torch.arange(T).unsqueeze(0) < lens.unsqueeze(1)  # (B, T)
        for r, s in enumerate(batch):
            ids[r, : len(s)] = s
        out = token_logprobs(model, ids, mask, moments=moments, chunk_bytes=chunk_bytes)
        per_row = out.pop("valid").sum(1).tolist()
        split = {key: v.split(per_row) for key, v in out.items()}
        for r, i in enumerate(idx):
            if per_row[r] == 0:  # fewer than two tokens: nothing predicted, scores stay nan
                continue
            row_stats = {key: chunks[r] for key, chunks in split.items()}
            for name, value in _reduce(row_stats, wanted, k).items():
                result[name][i] = value
        if bar:
            bar.update(int(lens.sum()))
    if bar:
        bar.close()
    return result
