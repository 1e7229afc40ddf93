"""Bits per byte of a gold answer: the metric of the ``*_bpb`` tasks (pure).

    from curate.tasks.bpb import bits_per_byte
    bits_per_byte(-13.86, "    return x\n")   # 1.54 bits for each of the 13 UTF-8 bytes

The OLMo team's "gold bpb" (OLMES / oe-eval, Groeneveld et al. 2024; Bhagia et al. 2024,
"Establishing task scaling laws"): the negative log-likelihood of the gold answer given the
prompt, in bits, divided by the answer's UTF-8 bytes. It moves smoothly where accuracy sits at
chance (a 135M model solves no GSM8K problem, yet its bpb of the gold solution still drops with
training and rises with pruning), and bytes, unlike tokens, do not depend on the tokenizer.
Lower is better. Per document; the task reports the mean over documents, as oe-eval does.
"""

from __future__ import annotations

import math
from typing import Any


def bits_per_byte(loglikelihood: float, continuation: str) -> float:
    """-log2 p(continuation | context) / bytes(continuation); NaN for an empty continuation."""
    n = len(continuation.encode("utf-8"))
    return -loglikelihood / (math.log(2) * n) if n else float("nan")


def process_results(doc: dict[str, Any], results: list[tuple[float, bool]]) -> dict[str, float]:
    """lm-eval ``process_results`` of a loglikelihood task whose target is ``doc["continuation"]``."""
    (ll, _greedy), = results
    return {"bpb": bits_per_byte(ll, doc["continuation"])}
