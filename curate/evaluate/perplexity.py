"""Token-level perplexity over non-overlapping windows, with logits computed in chunks.

    from curate.evaluate.perplexity import perplexity
    ppl = perplexity(model, windows.input_ids, batch_size=8)   # windows: LongTensor (N, L)

The Wanda (Sun et al. 2024) and SparseGPT (Frantar & Alistarh 2023) papers report perplexity
as ``exp(mean NLL)`` over every next-token prediction inside non-overlapping ``L``-token
windows (no context carried across windows). We do the same, but never materialise the full
(B, L, V) logits tensor: for SmolLM2 (V = 49,152) 8x512 fp32 logits alone are 805 MB. The base
model returns hidden states (B, L, H) and the output head runs on ``chunk`` positions at a
time, so the peak extra memory is (B, chunk, V).
"""

from __future__ import annotations

import math

from tqdm.auto import tqdm


def _base_and_head(model):
    """(decoder without head, output head) of a *ForCausalLM model."""
    base = getattr(model, getattr(model, "base_model_prefix", "model"), None) or model.get_decoder()
    head = model.get_output_embeddings()
    if head is None:
        raise TypeError(f"{type(model).__name__} has no output embeddings (not a causal LM?)")
    return base, head


def window_nll(model, input_ids, *, chunk: int = 128):
    """Summed next-token NLL per window: (B,) float64, over the L-1 predicted positions.

    ``input_ids`` is (B, L). Hidden states come from the base model; the head (and the final
    logit soft-cap, for models such as Gemma 2 that have one) runs per chunk of positions.
    """
    import torch
    import torch.nn.functional as F

    base, head = _base_and_head(model)
    device = next(model.parameters()).device
    x = input_ids.to(device)
    softcap = getattr(model.config, "final_logit_softcapping", None)
    with torch.inference_mode():
        hidden = base(input_ids=x, use_cache=False).last_hidden_state  # (B, L, H)
        B, L, _ = hidden.shape
        total = torch.zeros(B, dtype=torch.float64, device=device)
        # position t predicts token t+1: positions 0..L-2
        for s in range(0, L - 1, chunk):
            e = min(s + chunk, L - 1)
            logits = head(hidden[:, s:e]).float()  # (B, c, V)
            if softcap:
                logits = torch.tanh(logits / softcap) * softcap
            nll = F.cross_entropy(logits.transpose(1, 2), x[:, s + 1:e + 1], reduction="none")  # (B, c)
            total += nll.sum(dim=1, dtype=torch.float64)
    return total.cpu()


def perplexity(model, windows, *, batch_size: int = 8, chunk: int = 128, progress: bool = False,
               desc: str = "perplexity") -> float:
    """``exp`` of the mean next-token NLL over all windows (N, L) -- Wanda's ``eval_ppl``."""
    n, length = windows.shape
    if length < 2:
        raise ValueError("windows need at least 2 tokens")
    total = 0.0
    for s in tqdm(range(0, n, batch_size), desc=desc, disable=not progress, leave=False):
        total += float(window_nll(model, windows[s:s + batch_size], chunk=chunk).sum())
    return math.exp(total / (n * (length - 1)))
