"""Where CurateLM's and HFLM's log-likelihoods differ, measured against a float64 reference.

    python benchmarks/ll_reference.py                                   # 4 tasks x 10 documents
    python benchmarks/ll_reference.py --tasks hellaswag,piqa --limit 50

Runs lm-eval's stock HFLM (batch 8 and batch 1) and curate's CurateLM on the bundled model in
fp32, then both again on a float64 copy, on the same requests, and prints per task the largest
|log-likelihood difference| of every pair. The float64 HFLM is the exact reference: a pair of
fp32 runs can differ by the rounding of either, and only the reference says whose it is.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without reinstalling


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", default="hellaswag,arc_easy_val,winogrande,humaneval_bpb")
    ap.add_argument("--limit", type=int, default=10)
    args = ap.parse_args()

    import torch
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM

    from curate.evaluate.harness import task_manager
    from curate.evaluate.lm import CurateLM
    from curate.models import load_model

    tasks = args.tasks.split(",")
    torch.manual_seed(0)
    model, tok, _ = load_model("smollm2-135m")
    wide = copy.deepcopy(model).double()
    tm = task_manager()

    def run(cls, bs: int, m) -> dict[str, list[float]]:
        lm = cls(pretrained=m, tokenizer=tok, batch_size=bs, device="cpu")
        r = simple_evaluate(model=lm, tasks=tasks, limit=args.limit, task_manager=tm, bootstrap_iters=0,
                            log_samples=True, verbosity="ERROR")
        return {t: [x[0][0] for s in r["samples"][t] for x in s["resps"]] for t in tasks}

    runs = {}
    for name, cls, bs, m in (("HFLM fp32 b8", HFLM, 8, model), ("HFLM fp32 b1", HFLM, 1, model),
                             ("CurateLM fp32", CurateLM, 8, model), ("HFLM fp64 b8", HFLM, 8, wide),
                             ("CurateLM fp64", CurateLM, 8, wide)):
        t0 = time.perf_counter()
        runs[name] = run(cls, bs, m)
        print(f"{name}: {time.perf_counter() - t0:.0f} s", flush=True)
    pairs = [("HFLM fp32 b8", "CurateLM fp32"), ("HFLM fp32 b8", "HFLM fp32 b1"), ("HFLM fp64 b8", "HFLM fp32 b8"),
             ("HFLM fp64 b8", "CurateLM fp32"), ("HFLM fp64 b8", "CurateLM fp64")]
    print("\n| pair | " + " | ".join(tasks) + " |\n| --- |" + " --- |" * len(tasks))
    for a, b in pairs:
        cells = [f"{max(abs(x - y) for x, y in zip(runs[a][t], runs[b][t], strict=True)):.1e}" for t in tasks]
        print(f"| {a} vs {b} | " + " | ".join(cells) + " |")
    print("| max abs(LL) | " + " | ".join(f"{max(abs(x) for x in runs['HFLM fp64 b8'][t]):.1f}" for t in tasks) + " |")


if __name__ == "__main__":
    main()
