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
   token; a one-token choice costs no token at all. Documents that open with the same few-shot
   prompt (gsm8k_bpb's 8 shots) share one row too: the prompt once, then each document's own
   question and answer, each seeing the prompt and itself.
2. **length-sorted batches** under a token budget (rows x longest row), cut where padding would
   pass 10 % of a batch;
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


MIN_SHARED = 32  # tokens two documents' contexts must share (a few-shot prefix) to share a row
MAX_ROW = 2048  # tokens of one packed row: the (T, T) mask and attention stay small
MAX_PADDING = 0.1  # most padding a batch may hold, as a fraction of its rows x width


@dataclass
class PackedDoc:
    """A context's own tokens after the row's shared prefix, and the continuations scored after it."""

    suffix: tuple[int, ...]
    conts: list[tuple[int, ...]]
    owners: list[int]  # request index of each continuation

    def __len__(self) -> int:
        return len(self.suffix) + sum(len(c) - 1 for c in self.conts)


@dataclass
class PackedRow:
    """One row: a prefix shared by its documents (a document's whole context when it is alone,
    or the few-shot prompt several documents start with), then each document's suffix and choices."""

    prefix: tuple[int, ...]
    docs: list[PackedDoc]

    @property
    def tokens(self) -> list[int]:
        """Input tokens: the prefix, then per document its suffix and each continuation but its last token."""
        out = list(self.prefix)
        for d in self.docs:
            out.extend(d.suffix)
            for c in d.conts:
                out.extend(c[:-1])
        return out

    @property
    def owners(self) -> list[int]:
        return [o for d in self.docs for o in d.owners]

    def __len__(self) -> int:
        return len(self.prefix) + sum(len(d) for d in self.docs)


def effective_context(context: Sequence[int], continuation: Sequence[int], max_length: int) -> tuple[int, ...]:
    """The context HFLM actually conditions on: ``(context + continuation)`` keeps its last
    ``max_length + 1`` tokens (the final one is only a target), minus the continuation."""
    whole = (list(context) + list(continuation))[-(max_length + 1):]
    return tuple(whole[: len(whole) - len(continuation)])


def _lcp(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def pack(requests: Sequence[tuple[Sequence[int], Sequence[int]]], max_length: int,
         max_row: int = MAX_ROW, min_shared: int = MIN_SHARED) -> list[PackedRow]:
    """Pack (context, continuation) token pairs into rows (pure).

    1. requests with the same effective context (a document's choices) become one document;
    2. documents sorted by context; neighbours whose contexts share at least ``min_shared``
       leading tokens (the same few-shot prompt) join one row while it stays within ``max_row``
       tokens, the row's prefix being what all of them share (at least one token of each context
       stays in its suffix, or the prefix itself ends the context);
    3. a document longer than ``max_row`` has its choices split over several rows.
    """
    docs: dict[tuple[int, ...], list[tuple[tuple[int, ...], int]]] = {}
    for i, (ctx, cont) in enumerate(requests):
        docs.setdefault(effective_context(ctx, cont, max_length), []).append((tuple(cont), i))
    rows: list[PackedRow] = []
    members: list[tuple[tuple[int, ...], list]] = []
    shared = 0

    def close():
        if not members:
            return
        n = shared if len(members) > 1 else len(members[0][0])
        row = PackedRow(members[0][0][:n], [])
        for ctx, conts in members:
            row.docs.append(PackedDoc(ctx[n:], [c for c, _ in conts], [o for _, o in conts]))
        rows.append(row)

    for ctx in sorted(docs):
        conts = docs[ctx]
        size = len(ctx) + sum(len(c) - 1 for c, _ in conts)
        if members:
            lcp = _lcp(members[0][0], ctx)
            new_shared = min(shared, lcp) if len(members) > 1 else lcp
            sizes = [len(c) + sum(len(x) - 1 for x, _ in cs) for c, cs in members] + [size]
            if new_shared >= min_shared and new_shared + sum(z - new_shared for z in sizes) <= max_row:
                members.append((ctx, conts))
                shared = new_shared
                continue
            close()
        members, shared = [], 0
        if size > max_row:  # one long document: its choices over several rows, the context repeated
            part: list = []
            for c, o in conts:
                if part and len(ctx) + sum(len(x) - 1 for x, _ in part) + len(c) - 1 > max_row:
                    members = [(ctx, part)]
                    close()
                    part = []
                part.append((c, o))
            members = [(ctx, part)]
        else:
            members = [(ctx, conts)]
    close()
    return rows


def batches(rows: list[PackedRow], tokens_per_batch: int, max_padding: float = MAX_PADDING) -> list[list[PackedRow]]:
    """Rows sorted longest first, cut into batches of at most ``tokens_per_batch`` padded tokens
    (a row longer than the budget goes alone) in which padding is at most ``max_padding`` of the
    batch's tokens: cutting on the budget alone padded the eval_speed mix to 1.55x its unique
    tokens (a batch of 64 rows of 64 down to 20 tokens); a few more, smaller batches cost less."""
    order = sorted(rows, key=lambda r: -len(r))
    out: list[list[PackedRow]] = []
    real = 0  # unpadded tokens of the open batch
    for r in order:
        if out:
            width, n = len(out[-1][0]), len(out[-1]) + 1
            if n * width <= tokens_per_batch and n * width - (real + len(r)) <= max_padding * n * width:
                out[-1].append(r)
                real += len(r)
                continue
        out.append([r])
        real = len(r)
    return out


def build_batch(rows: list[PackedRow], pad_id: int = 0):
    """Tensors of one batch: ids (B, T), mask (B, 1, T, T) bool, positions (B, T), the gather
    index (rows (M,), positions (M,)), targets (M,) and per request its slice of M.

    Row layout and mask (P = shared prefix, s = a document's suffix, a/b = its choices' inputs)::

        tokens  P0 P1 s0 s1 a0 a1 b0      attends to
        s1                                P0, P1, s0, s1
        a1                                P0, P1, s0, s1, a0, a1
        b0                                P0, P1, s0, s1, b0

    Positions count as if each (context, continuation) ran alone, so RoPE sees the same offsets.
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
        toks = r.tokens
        ids[b, : len(toks)] = torch.tensor(toks, dtype=torch.long)
        p = len(r.prefix)
        pos[b, :p] = torch.arange(p)
        mask[b, 0, :p, :p] = causal[:p, :p]
        start = p
        for d in r.docs:
            s0, n = start, p + len(d.suffix)  # n: the document's context length
            s1 = s0 + len(d.suffix)
            if s1 > s0:
                pos[b, s0:s1] = torch.arange(p, n)
                mask[b, 0, s0:s1, :p] = True
                mask[b, 0, s0:s1, s0:s1] = causal[: s1 - s0, : s1 - s0]
            last_ctx = s1 - 1 if s1 > s0 else p - 1  # predicts each continuation's first token
            start = s1
            for owner, cont in zip(d.owners, d.conts, strict=True):
                m = len(cont) - 1  # input tokens of this continuation
                end = start + m
                if m:
                    pos[b, start:end] = torch.arange(n, n + m)
                    mask[b, 0, start:end, :p] = True
                    mask[b, 0, start:end, s0:s1] = True
                    mask[b, 0, start:end, start:end] = causal[:m, :m]
                first = len(targets)
                idx_b.extend([b] * len(cont))
                idx_t.extend([last_ctx, *range(start, end)])
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

        rows = pack([(ctx, cont) for _, ctx, cont in requests], self.max_length, min(MAX_ROW, self.tokens_per_batch))
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


__all__ = ["CurateLM", "PackedDoc", "PackedRow", "batches", "build_batch", "effective_context", "pack"]
