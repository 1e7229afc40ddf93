"""Log-likelihood evaluation speed: CurateLM vs lm-eval's HFLM vs one plain forward, same requests.

    python benchmarks/eval_speed.py                                   # the multiple-choice mix, 50 docs each
    python benchmarks/eval_speed.py --tasks hellaswag --limit 20 --repeats 1

The requests are built once from the tasks (lm-eval's own instances, tokenized by HFLM's
``_encode_pair``), then scored in the same process by (1) lm-eval's HFLM, (2) CurateLM and (3) one
plain forward of the model's base (pure causal SDPA, no mask, no lm_head) over the unique tokens,
i.e. the packed rows CurateLM builds, in the same batches (so padding counts in both: the padded
tokens are printed beside the unique ones). Each timing is the best of
``--repeats``. Prints seconds, tokens and the two ratios the issue asks for: HFLM / CurateLM
(goal >= 2x) and CurateLM / plain forward (goal <= 1.25x), and the largest log-likelihood gap.
"""

from __future__ import annotations

import argparse
import time

MC_MIX = "hellaswag,piqa,arc_easy_val,arc_challenge_val,openbookqa_val,winogrande,boolq,copa"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", default=MC_MIX)
    ap.add_argument("--limit", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=8, help="HFLM's batch size")
    ap.add_argument("--tokens-per-batch", type=int, default=None)
    args = ap.parse_args()

    import logging

    import torch
    from lm_eval.models.huggingface import HFLM

    from curate.evaluate.harness import task_manager
    from curate.evaluate.lm import DEFAULT_TOKENS_PER_BATCH, CurateLM, batches, build_batch, pack
    from curate.models import load_model

    for name in ("lm-eval", "lm_eval", "lm_eval.api.task", "lm_eval.tasks._index", "lm_eval.models.huggingface"):
        logging.getLogger(name).setLevel(logging.ERROR)
    tpb = args.tokens_per_batch or DEFAULT_TOKENS_PER_BATCH
    model, tok, _ = load_model("smollm2-135m")
    hf = HFLM(pretrained=model, tokenizer=tok, batch_size=args.batch_size, device="cpu")
    ours = CurateLM(pretrained=model, tokenizer=tok, batch_size=args.batch_size, device="cpu", tokens_per_batch=tpb)
    tm = task_manager()
    loaded = tm.load([t for t in args.tasks.split(",") if t])["tasks"]
    reqs = []
    for task in loaded.values():
        task.build_all_requests(limit=args.limit, rank=0, world_size=1)
        for inst in task.instances:
            ctx, cont = inst.args
            c_enc, x_enc = hf._encode_pair(ctx, cont) if ctx else ([hf.prefix_token_id], hf.tok_encode(cont))
            reqs.append(((ctx, cont), c_enc, x_enc))
    rows = pack([(c, x) for _, c, x in reqs], hf.max_length, tpb)
    unique = sum(len(r) for r in rows)
    naive = sum(len(c) + len(x) - 1 for _, c, x in reqs)
    padded = sum(len(b) * len(b[0]) for b in batches(rows, tpb))  # rows x width: what the forwards compute

    def plain():
        base = model.get_decoder()
        with torch.inference_mode():
            for b in batches(rows, tpb):
                ids = build_batch(b, tok.pad_token_id or 0)[0]
                base(input_ids=ids, use_cache=False)

    def best(fn):
        times, out = [], None
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            out = fn()
            times.append(time.perf_counter() - t0)
        return min(times), out

    t_hf, want = best(lambda: hf._loglikelihood_tokens(reqs, disable_tqdm=True))
    t_ours, got = best(lambda: ours._loglikelihood_tokens(reqs, disable_tqdm=True))
    t_plain, _ = best(plain)
    gap = max(abs(g[0] - w[0]) for g, w in zip(got, want, strict=True))
    rel = max(abs(g[0] - w[0]) / max(1.0, abs(w[0])) for g, w in zip(got, want, strict=True))
    same = sum(g[1] == w[1] for g, w in zip(got, want, strict=True))
    print(f"tasks {args.tasks} x {args.limit} docs: {len(reqs)} requests, {len(rows)} packed rows; "
          f"tokens: {naive} as HFLM runs them, {unique} unique ({naive / unique:.2f}x fewer), "
          f"{padded} in CurateLM's padded batches ({padded / unique:.2f}x the unique)")
    print(f"HFLM (batch {args.batch_size})   {t_hf:7.1f} s")
    print(f"CurateLM ({tpb} tok/batch) {t_ours:7.1f} s")
    print(f"plain forward, unique tokens {t_plain:7.1f} s")
    print(f"ratio HFLM / CurateLM = {t_hf / t_ours:.2f}x (goal >= 2); CurateLM / plain forward = "
          f"{t_ours / t_plain:.2f}x (goal <= 1.25)")
    print(f"max |dLL| vs HFLM = {gap:.2e} (relative {rel:.1e}); greedy flags equal on {same}/{len(reqs)}")


if __name__ == "__main__":
    main()
