"""Pure scoring math: token statistics from logits, Min-K% / Min-K%++, n-gram and lexical stats.

    import torch
    from curate.scoring.functional import token_stats, min_k_percent
    logits = torch.randn(5, 100)                  # (M, V) logits of M predicted positions
    targets = torch.randint(0, 100, (5,))         # (M,) the tokens that followed
    st = token_stats(logits, targets)             # dict of (M,) tensors
    min_k_percent(st["token_logp"], k=0.2)        # mean of the lowest 20 % log-probs

No model, no batching, no I/O here: :mod:`curate.scoring.model_scores` feeds these functions
chunk by chunk, and the tests pin them against brute-force computations on tiny tensors.

Papers:
- Min-K% Prob: Shi et al. 2024, "Detecting Pretraining Data from Large Language Models"
  (https://arxiv.org/abs/2310.16789).
- Min-K%++: Zhang et al. 2024, "Min-K%++: Improved Baseline for Detecting Pre-Training Data
  from Large Language Models" (https://arxiv.org/abs/2404.02936).
- Set-level n-gram Jaccard to the training corpus: Ji et al. 2024, "Beware of Calibration Data
  for Pruning Large Language Models", Section 3.4 (https://arxiv.org/abs/2410.17711).
- n-gram aggregation: Xu et al. 2026 (concentration of a calibration set's 4-grams).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np
import torch

_WORD = re.compile(r"\w+", re.UNICODE)


# --------------------------------------------------------------------------------------------
# token-level statistics (model-based scores)
# --------------------------------------------------------------------------------------------


def token_stats(logits: torch.Tensor, targets: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-position statistics of the next-token distribution, in fp32.

    ``logits`` (M, V) are the logits at M positions, ``targets`` (M,) the tokens that came
    next. Returns (M,) tensors:

    - ``token_logp``: log p(x_t | x_<t)
    - ``mu``: E_{z~p}[log p(z | x_<t)]  (= minus the entropy)
    - ``sigma``: sqrt(Var_{z~p}[log p(z | x_<t)])  (Min-K%++ normaliser)
    - ``entropy``: -sum_z p(z) log p(z)
    """
    logits = logits.float()
    logp = torch.log_softmax(logits, dim=-1)  # (M, V)
    p = logp.exp()  # (M, V)
    # Row-wise dot products as batched (1, V) x (V, 1) matmuls: no (M, V) product temporaries.
    mu = torch.einsum("mv,mv->m", p, logp)  # (M,)
    # Centred second moment: E[x^2] - mu^2 cancels catastrophically in fp32 when the
    # distribution is flat (sigma << |mu|), so subtract mu first (in place, reusing logp's size).
    d = logp - mu.unsqueeze(-1)  # (M, V)
    sigma = torch.einsum("mv,mv->m", p, d.square_()).clamp_min(0.0).sqrt()
    del d
    token_logp = logp.gather(-1, targets.long().unsqueeze(-1)).squeeze(-1)  # (M,)
    return {"token_logp": token_logp, "mu": mu, "sigma": sigma, "entropy": -mu}


def min_k_pp_positions(token_logp: torch.Tensor, mu: torch.Tensor, sigma: torch.Tensor,
                       eps: float = 1e-12) -> torch.Tensor:
    """Min-K%++ per-position score (log p(x_t) - mu_t) / sigma_t (Zhang et al. 2024, Eq. 3)."""
    return (token_logp - mu) / sigma.clamp_min(eps)


def min_k_percent(values: torch.Tensor, k: float) -> float:
    """Mean of the lowest ``k`` fraction of ``values`` (1-D, valid positions only).

    As in the reference code of Shi et al. and Zhang et al.: ``int(len * k)`` positions, but at
    least one so that short samples still get a score.
    """
    if not 0.0 < k <= 1.0:
        raise ValueError(f"k must be in (0, 1], got {k}")
    n = values.numel()
    if n == 0:
        return float("nan")
    m = max(1, int(n * k))
    return float(torch.topk(values.double(), m, largest=False).values.mean())


def perplexity(token_logp: torch.Tensor) -> float:
    """exp(mean negative log-likelihood) over the predicted tokens of one sample."""
    if token_logp.numel() == 0:
        return float("nan")
    return float(torch.exp(-token_logp.double().mean()))


# --------------------------------------------------------------------------------------------
# words and n-grams
# --------------------------------------------------------------------------------------------


def words(text: str) -> list[str]:
    """Lower-cased word tokens (``\\w+``): the unit of every lexical and n-gram statistic."""
    return _WORD.findall(text.lower())


def ngrams(tokens: Sequence[str], n: int) -> list[tuple[str, ...]]:
    """Contiguous word n-grams; a text shorter than ``n`` words yields no n-gram."""
    return [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]


def jaccard(a: set, b: set) -> float:
    """Exact Jaccard |A ∩ B| / |A ∪ B| (0 for two empty sets)."""
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def ngram_aggregation(texts: Sequence[str], n: int = 4, top_k: int = 10) -> dict:
    """How concentrated a set's n-grams are (Xu et al. 2026).

    Counts every n-gram occurrence of every sample. An n-gram *repeats across samples* when it
    occurs in at least two different samples. Returns:

    - ``repeat_share``: share of all n-gram occurrences whose n-gram repeats across samples;
    - ``top_k_share``: share of all occurrences taken by the ``top_k`` most frequent n-grams;
    - ``total`` / ``unique``: occurrences and distinct n-grams;
    - ``contrib``: per sample, its repeated occurrences / all occurrences of the set (sums to
      ``repeat_share``);
    - ``sample_repeat_share``: per sample, the share of its own occurrences that repeat.
    """
    per_sample = [Counter(ngrams(words(t), n)) for t in texts]
    occ: Counter = Counter()
    doc_freq: Counter = Counter()
    for c in per_sample:
        occ.update(c)
        doc_freq.update(c.keys())
    total = sum(occ.values())
    repeated = {g for g, df in doc_freq.items() if df >= 2}
    rep_occ = [sum(v for g, v in c.items() if g in repeated) for c in per_sample]
    top = occ.most_common(top_k)
    return {
        "n": n,
        "total": total,
        "unique": len(occ),
        "repeat_share": sum(rep_occ) / total if total else 0.0,
        "top_k": top_k,
        "top_k_share": sum(v for _, v in top) / total if total else 0.0,
        "top_ngrams": [(" ".join(g), v) for g, v in top],
        "contrib": [r / total if total else 0.0 for r in rep_occ],
        "sample_repeat_share": [r / sum(c.values()) if c else 0.0 for r, c in zip(rep_occ, per_sample, strict=True)],
    }


# --------------------------------------------------------------------------------------------
# diversity / lexical statistics
# --------------------------------------------------------------------------------------------


def distinct_n(token_lists: Sequence[Sequence[str]], n: int) -> float:
    """distinct-n (Li et al. 2016): distinct n-grams / total n-grams over all given token lists."""
    total, seen = 0, set()
    for toks in token_lists:
        grams = ngrams(toks, n)
        total += len(grams)
        seen.update(grams)
    return len(seen) / total if total else 0.0


def zipf_exponent(tokens: Sequence[str], min_count: int = 1) -> float:
    """Zipf exponent s of the rank-frequency law f(r) ∝ r^-s, least squares in log-log space.

    A lower s means probability mass spread over more word types: a more diverse text (natural
    English is close to 1; repetitive text is steeper). Needs at least 3 word types.
    """
    counts = np.array(sorted((c for c in Counter(tokens).values() if c >= min_count), reverse=True),
                      dtype=np.float64)
    if counts.size < 3:
        return float("nan")
    ranks = np.arange(1, counts.size + 1, dtype=np.float64)
    slope, _ = np.polyfit(np.log(ranks), np.log(counts), 1)
    return float(-slope)


def zipf_diversity(tokens: Sequence[str]) -> float:
    """Zipf-based lexical diversity 1 / s (higher is more diverse); nan for tiny texts."""
    s = zipf_exponent(tokens)
    return 1.0 / s if s and not math.isnan(s) and s > 0 else float("nan")


def summarize(values: Sequence[float] | np.ndarray) -> dict[str, float]:
    """mean / std / min / median / max of the finite values (what manifests and cards show)."""
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        return {"mean": float("nan"), "std": float("nan"), "min": float("nan"),
                "median": float("nan"), "max": float("nan"), "n": 0}
    return {"mean": float(arr.mean()), "std": float(arr.std()), "min": float(arr.min()),
            "median": float(np.median(arr)), "max": float(arr.max()), "n": int(arr.size)}
