"""Token-level perplexity over non-overlapping windows, through curate's token log-prob kernel.

    from curate.evaluate.perplexity import perplexity
    ppl = perplexity(model, windows.input_ids, batch_size=8)   # windows: LongTensor (N, L)

The Wanda (Sun et al. 2024) and SparseGPT (Frantar & Alistarh 2023) papers report perplexity
as ``exp(mean NLL)`` over every next-token prediction inside non-overlapping ``L``-token
windows (no context carried across windows). We do the same with
:func:`curate.scoring.logprobs.token_logprobs`: the base model returns hidden states and the
output head (with the final logit soft-cap of models that have one) runs on chunks of
positions, so the (B, L, V) logits tensor is never built.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from tqdm.auto import tqdm

from curate.scoring.logprobs import DEFAULT_CHUNK_BYTES, token_logprobs


def window_nll(model, input_ids, *, prefix: Sequence[int] = (), chunk_bytes: int = DEFAULT_CHUNK_BYTES):
    """Summed next-token NLL per window: (B,) float64, over the predicted positions of (B, L): the
    L-1 after the first, or all L when ``prefix`` (the model's <bos>, :func:`curate.models.bos_prefix`)
    is put before each window."""
    from curate.models import with_prefix

    ids, _ = with_prefix(input_ids, list(prefix))
    out = token_logprobs(model, ids, chunk_bytes=chunk_bytes)
    per_row = out["valid"].sum(1).tolist()
    import torch

    return torch.stack([-lp.double().sum() for lp in out["token_logp"].split(per_row)])


def perplexity(model, windows, *, batch_size: int = 8, prefix: Sequence[int] = (), chunk_bytes: int = DEFAULT_CHUNK_BYTES,
               progress: bool = False, desc: str = "perplexity") -> float:
    """``exp`` of the mean next-token NLL over all windows (N, L) -- Wanda's ``eval_ppl`` (no
    ``prefix``: L-1 predictions a window); with ``prefix`` (the model's <bos>) all L are predicted."""
    n, length = windows.shape
    if length < 2:
        raise ValueError("windows need at least 2 tokens")
    total = 0.0
    for s in tqdm(range(0, n, batch_size), desc=desc, disable=not progress, leave=False):
        total += float(window_nll(model, windows[s:s + batch_size], prefix=prefix, chunk_bytes=chunk_bytes).sum())
    return math.exp(total / (n * (length - (0 if prefix else 1))))
