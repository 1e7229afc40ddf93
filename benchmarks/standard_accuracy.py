"""Dense scores of the bundled model on the standard tasks: curate's CurateLM beside lm-eval's HFLM.

    python benchmarks/standard_accuracy.py --limit 200 --json /tmp/std.json          # both backends
    python benchmarks/standard_accuracy.py --tasks gsm8k_bpb,mbpp_bpb --limit 50 --no-hf

For each task (its first ``--limit`` documents of the split its YAML metadata names): the metric
of its metadata with a 95 % interval (Wilson for accuracy; mean +- 1.96 s/sqrt(n) for bpb), the
chance level, whether the interval clears chance; then the same from lm-eval's stock HFLM on the
same requests, whether every document's per-choice log-likelihoods agree within 1e-4 and its
greedy flags are identical, and the seconds each backend took.
"""

from __future__ import annotations

import argparse
import json
import math
import time

STANDARD = ("hellaswag,piqa,winogrande,arc_easy_val,arc_challenge_val,openbookqa_val,sciq_val,boolq,rte,copa,"
            "social_iqa,commonsense_qa")


def interval(metric: str, values: list[float]) -> tuple[float, float, float]:
    from curate.evaluate.dimensions import wilson

    n = len(values)
    mean = sum(values) / n
    if metric == "bpb":
        sd = math.sqrt(sum((v - mean) ** 2 for v in values) / max(1, n - 1))
        return mean, mean - 1.96 * sd / math.sqrt(n), mean + 1.96 * sd / math.sqrt(n)
    return (mean, *wilson(mean, n))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", default=STANDARD)
    ap.add_argument("--limit", type=int, default=200)
    ap.add_argument("--no-hf", action="store_true")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    import logging

    import lm_eval.evaluator
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM

    from curate.evaluate.harness import task_manager
    from curate.evaluate.lm import CurateLM
    from curate.models import load_model
    from curate.tasks import task_info

    for name in ("lm-eval", "lm_eval", "lm_eval.evaluator", "lm_eval.api.task", "lm_eval.tasks._index"):
        logging.getLogger(name).setLevel(logging.ERROR)
    lm_eval.evaluator.get_git_commit_hash = lambda: None
    model, tok, _ = load_model("smollm2-135m")
    tm = task_manager()
    backends = {"curate": CurateLM(pretrained=model, tokenizer=tok, batch_size=8, device="cpu")}
    if not args.no_hf:
        backends["hf"] = HFLM(pretrained=model, tokenizer=tok, batch_size=8, device="cpu")
    rows = []
    for task in [t for t in args.tasks.split(",") if t]:
        info = task_info(task)
        metric = info.metric or "acc"
        row = {"task": task, "dimension": info.dimension, "split": info.split, "metric": metric, "chance": info.chance}
        samples = {}
        for name, lm in backends.items():
            t0 = time.perf_counter()
            res = simple_evaluate(model=lm, tasks=[task], limit=args.limit, task_manager=tm, bootstrap_iters=0,
                                  log_samples=True, verbosity="ERROR", random_seed=1234, numpy_random_seed=1234,
                                  torch_random_seed=1234, fewshot_random_seed=1234)
            secs = time.perf_counter() - t0
            samples[name] = res["samples"][task]
            values = [float(s[metric]) for s in samples[name]]
            mean, lo, hi = interval(metric, values)
            row[name] = {"value": mean, "ci": [lo, hi], "items": len(values), "seconds": round(secs, 1)}
        if "hf" in samples:
            dll, same_greedy = 0.0, True
            for a, b in zip(samples["curate"], samples["hf"], strict=True):
                for x, y in zip(a["resps"], b["resps"], strict=True):
                    dll = max(dll, abs(x[0][0] - y[0][0]))
                    same_greedy &= x[0][1] == y[0][1]
            row["max_abs_dll"] = dll
            row["same_greedy"] = same_greedy
            per_doc = [abs(float(a[metric]) - float(b[metric])) for a, b in zip(samples["curate"], samples["hf"], strict=True)]
            # accuracy: the same 0/1 on every document; bpb is a float per document, so the
            # largest per-document difference is what compares (fp32 sums differ in the last digits)
            row["same_per_doc"] = max(per_doc) == 0 if metric != "bpb" else f"max |d bpb| {max(per_doc):.1e}"
        rows.append(row)
        c = row["curate"]
        above = "" if info.chance is None else (" above chance" if c["ci"][0] > info.chance else " AT CHANCE")
        line = f"{task}: {metric} {c['value']:.3f} [{c['ci'][0]:.3f}, {c['ci'][1]:.3f}] n={c['items']}{above} ({c['seconds']}s)"
        if "hf" in row:
            h = row["hf"]
            line += (f" | HFLM {h['value']:.3f} [{h['ci'][0]:.3f}, {h['ci'][1]:.3f}] ({h['seconds']}s) "
                     f"max|dll|={row['max_abs_dll']:.2e} same per doc={row['same_per_doc']}")
        print(line, flush=True)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(rows, f, indent=1)
    print("\n| task | split | dimension | items | curate (CurateLM) [95 % CI] | chance | lm-eval HFLM [95 % CI] | "
          "same per doc | max abs dLL | s curate / s HFLM |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        c, h = r["curate"], r.get("hf")
        hf = f"{h['value']:.3f} [{h['ci'][0]:.3f}, {h['ci'][1]:.3f}]" if h else "n/a"
        chance = "n/a" if r["chance"] is None else f"{r['chance']:g}"
        print(f"| {r['task']} | {r['split']} | {r['dimension']} | {c['items']} | {r['metric']} {c['value']:.3f} "
              f"[{c['ci'][0]:.3f}, {c['ci'][1]:.3f}] | {chance} | {hf} | {r.get('same_per_doc', 'n/a')} | "
              f"{r.get('max_abs_dll', float('nan')):.1e} | {c['seconds']} / {h['seconds'] if h else 'n/a'} |")


if __name__ == "__main__":
    main()
