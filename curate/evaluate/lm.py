"""lm-eval's LM API at the speed of one forward: ``CurateLM``, an HFLM whose log-likelihoods come
from curate's one log-prob kernel (:func:`curate.scoring.logprobs.gathered_logprobs`).

    from curate.evaluate.lm import CurateLM
    lm = CurateLM(pretrained=model, tokenizer=tok)       # an in-memory (pruned) model
    lm_eval.simple_evaluate(model=lm, tasks=["hellaswag"], task_manager=tm)

What differs from lm-eval's HFLM, which runs each (context, continuation) pair as its own row
and builds the (B, T, V) log-softmax of every position:

1. **a context is computed once**: the requests that share a context (a document's choices) are
   packed into one row, ``context | choice_1[:-1] | choice_2[:-1] | ...``, with a (T, T) mask
   under which each choice sees the context and itself only, and position ids that restart each
   choice where it would start alone. The context's last position predicts every choice's first
   token; a one-token choice costs no token at all.
2. **length-sorted batches** under a token budget (rows x longest row), so padding stays small;
3. **lm_head on the scored positions only**, ``rows`` at a time: never (B, T, V) logits.

Tokenization, truncation (from the left, to ``max_length + 1`` tokens, as HFLM does),
``loglikelihood_rolling`` (which calls the same method) and ``generate_until`` are HFLM's own,
so the requests are the same tokens; the log-likelihoods agree with HFLM's to float rounding
(tests/evaluate/test_lm.py; benchmarks/eval_speed.py measures the speed-up).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from curate.errors import requires

requires("lm_eval", extra="eval", what="downstream task evaluation")

from lm_eval.models.huggingface import HFLM  # noqa: E402

DEFAULT_TOKENS_PER_BATCH = 4096


@dataclass
class PackedRow:
    """One shared context and the continuations scored after it (request indices in ``owners``)."""

    context: tuple[int, ...]
    conts: list[tuple[int, ...]]
    owners: list[int]

    @property
    def tokens(self) -> list[int]:
        """The row's input tokens: the context, then each continuation but its last token."""
        out = list(self.context)
        for c in self.conts:
            out.extend(c[:-1])
        return out

    def __len__(self) -> int:
        return len(self.context) + sum(len(c) - 1 for c in self.conts)


def effective_context(context: Sequence[int], continuation: Sequence[int], max_length: int) -> tuple[int, ...]:
    """The context HFLM actually conditions on: ``(context + continuation)`` keeps its last
    ``max_length + 1`` tokens (the final one is only a target), minus the continuation."""
    whole = (list(context) + list(continuation))[-(max_length + 1):]
    return tuple(whole[: len(whole) - len(continuation)])


def pack(requests: Sequence[tuple[Sequence[int], Sequence[int]]], max_length: int,
         max_row: int = DEFAULT_TOKENS_PER_BATCH) -> list[PackedRow]:
    """Group (context, continuation) token pairs by their effective context, in first-seen order;
    a group whose row would exceed ``max_row`` tokens is split (the context then repeats)."""
    groups: dict[tuple[int, ...], PackedRow] = {}
    rows: list[PackedRow] = []
    for i, (ctx, cont) in enumerate(requests):
        eff = effective_context(ctx, cont, max_length)
        row = groups.get(eff)
        if row is None or (len(row) + len(cont) - 1 > max_row and row.conts):
            row = groups[eff] = PackedRow(eff, [], [])
            rows.append(row)
        row.conts.append(tuple(cont))
        row.owners.append(i)
    return rows


def batches(rows: list[PackedRow], tokens_per_batch: int) -> list[list[PackedRow]]:
    """Rows sorted longest first, cut into batches of at most ``tokens_per_batch`` padded tokens
    (a row longer than the budget goes alone)."""
    order = sorted(rows, key=lambda r: -len(r))
    out: list[list[PackedRow]] = []
    for r in order:
        if out and (len(out[-1]) + 1) * len(out[-1][0]) <= tokens_per_batch:
            out[-1].append(r)
        else:
            out.append([r])
    return out


def build_batch(rows: list[PackedRow], pad_id: int = 0):
    """Tensors of one batch: ids (B, T), mask (B, 1, T, T) bool, positions (B, T), the gather
    index (rows (M,), positions (M,)), targets (M,) and per request its slice of M.

    Row layout and mask (C = context, a/b = two continuations' inputs)::

        tokens  C0 C1 C2 a0 a1 b0        attends to
        C2      .. .. ..                 C0..C2 (causal)
        a1                               C0..C2, a0, a1
        b0                               C0..C2, b0
    """
    import torch

    B, T = len(rows), max(len(r) for r in rows)
    ids = torch.full((B, T), pad_id, dtype=torch.long)
    pos = torch.zeros(B, T, dtype=torch.long)
    mask = torch.zeros(B, 1, T, T, dtype=torch.bool)
    idx_b: list[int] = []
    idx_t: list[int] = []
    targets: list[int] = []
    spans: list[tuple[int, int, int]] = []  # (request, start, end) in M
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    for b, r in enumerate(rows):
        n = len(r.context)
        toks = r.tokens
        ids[b, : len(toks)] = torch.tensor(toks, dtype=torch.long)
        pos[b, :n] = torch.arange(n)
        mask[b, 0, :n, :n] = causal[:n, :n]
        start = n
        for owner, cont in zip(r.owners, r.conts, strict=True):
            m = len(cont) - 1  # input tokens of this continuation
            end = start + m
            if m:
                pos[b, start:end] = torch.arange(n, n + m)
                mask[b, 0, start:end, :n] = True
                mask[b, 0, start:end, start:end] = causal[:m, :m]
            # position n-1 predicts cont[0]; cont input k (at start + k) predicts cont[k + 1]
            first = len(targets)
            idx_b.extend([b] * len(cont))
            idx_t.extend([n - 1, *range(start, end)])
            targets.extend(cont)
            spans.append((owner, first, len(targets)))
            start = end
        for t in range(start, T):  # padding attends to itself only (no all-masked row: no NaN)
            mask[b, 0, t, t] = True
    index = (torch.tensor(idx_b, dtype=torch.long), torch.tensor(idx_t, dtype=torch.long))
    return ids, mask, pos, index, torch.tensor(targets, dtype=torch.long), spans


class CurateLM(HFLM):
    """HFLM with packed, once-per-context log-likelihoods from curate's log-prob kernel.

    ``tokens_per_batch`` bounds rows x longest row of a batch (padding included); ``batch_size``
    still applies to ``generate_until``.
    """

    def __init__(self, *args, tokens_per_batch: int = DEFAULT_TOKENS_PER_BATCH, **kwargs):
        super().__init__(*args, **kwargs)
        self.tokens_per_batch = int(tokens_per_batch)

    def _loglikelihood_tokens(self, requests, disable_tqdm: bool = False, override_bs: int | None = None):
        from tqdm.auto import tqdm

        from curate.scoring.logprobs import gathered_logprobs

        rows = pack([(ctx, cont) for _, ctx, cont in requests], self.max_length, self.tokens_per_batch)
        res: list[tuple[float, bool] | None] = [None] * len(requests)
        pad = self.tokenizer.pad_token_id or 0
        bar = tqdm(total=len(requests), disable=disable_tqdm or self.rank != 0, desc="loglikelihood (packed)")
        for batch in batches(rows, self.tokens_per_batch):
            ids, mask, pos, index, targets, spans = build_batch(batch, pad)
            out = gathered_logprobs(self.model, ids, index, targets, attention_mask=mask, position_ids=pos, greedy=True)
            logp, greedy = out["token_logp"].double(), out["is_greedy"]
            for owner, a, b in spans:
                answer = (float(logp[a:b].sum()), bool(greedy[a:b].all()))
                res[owner] = answer
                request_str = requests[owner][0]
                if request_str is not None:  # rolling requests are cached per document by HFLM
                    self.cache_hook.add_partial("loglikelihood", request_str, answer)
            bar.update(len(spans))
        bar.close()
        return res


__all__ = ["CurateLM", "PackedRow", "batches", "build_batch", "effective_context", "pack"]
