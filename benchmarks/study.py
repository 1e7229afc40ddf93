"""The calibration-data study on the bundled model, resumable: every strategy over rebuilt seeds
(``docs/results.md``), the ablations of Ji et al. 2024 (``docs/ablations.md``) and the retention
predictor fitted on what was measured (``docs/predictor.md``). Successor of compare_strategies.py (removed).

    python benchmarks/study.py run table          # 8 recipes x 5 rebuilt seeds x {Wanda 60 %, Wanda 2:4}
    python benchmarks/study.py run ablations      # 15 self-generation variants x 3 rebuilt seeds, Wanda 60 %
    python benchmarks/study.py run gemma          # 3 recipes x 5 rebuilt seeds on Gemma-3-270M, Wanda 60 %
    python benchmarks/study.py report             # tables, paired tests, plots, predictor -> docs/

Every part is resumable: seed-0 sets already built are reused, each seed's rebuilt set lives in
``WORK/rebuilt`` (shared by both pruning configurations) and a finished draw is never redone, so
rerunning after an interruption continues where it stopped. ``WORK/store`` is the results store of
``curate predict`` (the tidy rows and each rebuilt set's features). Run the two parts side by side
with ``OMP_NUM_THREADS=1`` each on a 2-core machine.

    python benchmarks/study.py run table --executor ray --num-gpus 1   # every draw a Ray task (one per GPU)

``--executor ray`` (the ``executor`` key of each validation): the draws of every validation run side
by side as Ray tasks on the cluster of ``RAY_ADDRESS`` (else a local one, started once for the
study); each task loads the bundled model itself and rebuilds its seed's set into ``WORK/rebuilt``,
so ``--work`` and ``CURATE_CACHE`` must be shared by every node.

Sizes (chosen for 2 CPU cores, see docs/results.md): the strategy sets are the recipes' own sizes
(40-50 x 128 tokens), each draw prunes with 16 rows; perplexity on 1 window of 512 tokens per
held-out text; the standard suite in four dimensions (``study_plan.TABLE_TASKS``) on the first
``study_plan.TABLE_LIMIT`` items of each task's seeded order (``--limit N``: N of every task). Ablation sets are
the default recipe at 16 x 128 (the varied knob aside), perplexity plus lastword_wikipedia only.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without reinstalling

ROOT = Path(__file__).resolve().parents[1]
from study_plan import (  # noqa: E402 - benchmarks/study_plan.py, beside this script
    ABLATION_TASKS,
    ABLATIONS,
    BASE,
    BASE_RUN,
    CONFIGS,
    GEMMA_CONFIG,
    GEMMA_MODEL,
    POOL_NAME,
    TABLE_LIMIT,
    TABLE_RECIPES,
    TABLE_TASKS,
    ablation_recipes,
    gemma_recipes,
    level_name,
)


def build_seed0(recipes: dict[str, object], sets_out: Path, model_objects, log) -> list[str]:
    """Seed-0 build of each recipe (reused when present): the set folders handed to validate."""
    from curate.build import build_recipe
    from curate.context import RunContext
    from curate.validate.draws import reusable_build

    model, tok, info = model_objects
    paths = []
    for name, recipe in recipes.items():
        found = reusable_build(sets_out, recipe.recipe_hash, info.sha)
        path = found.path if found is not None else None
        if path is None:
            t0 = time.perf_counter()
            ctx = RunContext.from_objects(model, tok, info, seed=recipe.seed, progress=False)
            path = build_recipe(recipe, sets_out, ctx=ctx, progress=False).path
            log(f"[build] {name}: {path} in {time.perf_counter() - t0:.0f}s")
        paths.append(str(path))
    return paths


def run(part: str, work: Path, seeds: int, limit: int | dict[str, int], log=print, configs: list[str] | None = None,
        reverse: bool = False, only: list[str] | None = None, executor: str = "local",
        num_gpus: float | None = None, num_cpus: float | None = None) -> None:
    from curate.evaluate.evaluator import EvalConfig
    from curate.models import load_model
    from curate.recipe import load_recipe, parse_recipe
    from curate.validate import ValidateConfig, validate
    from prune_backend import PruneConfig

    t_start = time.perf_counter()
    work.mkdir(parents=True, exist_ok=True)
    model_name = GEMMA_MODEL if part == "gemma" else "smollm2-135m"
    model_objects = load_model(model_name)
    if executor == "ray":  # one cluster for every validation of the study, not one per call
        from curate.errors import requires

        requires("ray", extra="ray", what="--executor ray").init()
    ray_kw = {"executor": executor, "num_gpus": num_gpus, "num_cpus": num_cpus} if executor == "ray" else {}
    timings: dict[str, float] = {}

    def one(label, recipes: dict, prune, k: int, n, tasks, out: Path, texts=None, store: Path | None = work / "store"):
        """Seed-0 builds (reused), then validate seeds 0..k-1 of these sets into ``out`` (resumable)."""
        paths = build_seed0(recipes, work / "sets", model_objects, log)
        if reverse:  # a second process on the other configuration meets the first one's rebuilds last
            paths = paths[::-1]
        t0 = time.perf_counter()
        cfg = ValidateConfig(sets=paths, out=out, seeds=k, nsamples=n, draw="rebuild", rebuild_dir=work / "rebuilt",
                             eval=EvalConfig(tasks=tasks, limit=limit, ppl_windows=1,
                                             **({} if texts is None else {"texts": texts})),
                             prune=PruneConfig(**prune), progress=False, store=store, model=model_name,
                             **ray_kw)
        # Ray tasks load the bundled model themselves (cfg.model) rather than a copy shipped from here.
        validate(cfg, model_objects=model_objects if executor == "local" else None, log=log)
        timings[label] = round(timings.get(label, 0.0) + time.perf_counter() - t0, 1)
        log(f"[validate] {part} {label} seeds 0..{k - 1}: {time.perf_counter() - t0:.0f}s")

    if part == "table":
        tasks = TABLE_TASKS
        meta = {"tasks": list(tasks), "limit": limit, "seeds": seeds, "nsamples": 16}
        (work / f"{part}-study.json").write_text(json.dumps(meta | {"configs": CONFIGS}, indent=1))
        recipes = {name: load_recipe(name) for name in TABLE_RECIPES if only is None or name in only}
        # seeds grow together for both configurations: stopped early, the table stays balanced
        for k in range(1, seeds + 1):
            for label, prune in CONFIGS.items():
                if configs is None or label in configs:  # --configs: one process per configuration
                    one(label, recipes, prune, k, 16, tasks, work / "table" / label)
    elif part == "gemma":
        meta = {"tasks": list(TABLE_TASKS), "limit": limit, "seeds": seeds, "nsamples": 16, "model": GEMMA_MODEL}
        (work / f"{part}-study.json").write_text(json.dumps(meta | {"configs": {GEMMA_CONFIG: CONFIGS[GEMMA_CONFIG]}}, indent=1))
        recipes = {name: parse_recipe(d, f"gemma {name}") for name, d in gemma_recipes().items()}
        for k in range(1, seeds + 1):  # seeds grow together: stopped early, the sets stay paired
            # a store of its own: the Xu claim reads each set's log-perplexity under Gemma
            one(GEMMA_CONFIG, recipes, CONFIGS[GEMMA_CONFIG], k, 16, TABLE_TASKS, work / "gemma" / GEMMA_CONFIG,
                store=work / "gemma" / "store")
    else:
        tasks = ABLATION_TASKS
        meta = {"tasks": list(tasks), "limit": limit, "seeds": seeds, "nsamples": None}
        (work / f"{part}-study.json").write_text(json.dumps(meta | {"configs": CONFIGS}, indent=1))
        every = {name: parse_recipe(d, f"ablation {name}") for name, d in ablation_recipes().items()}
        # one ablation at a time (cheapest first), so an interrupted study still has whole ablations
        for abl in ("prefix", "temperature", "filter", "seqlen", "nsamples"):
            plain = [lv for lv in ABLATIONS[abl][1] if len(lv) == 3]
            if plain:
                names = list(dict.fromkeys(level_name(abl, lv[0], lv[2]) for lv in plain))
                if abl != BASE_RUN:  # the shared base level is validated once, in BASE_RUN's folder
                    names = [n for n in names if n != BASE]
                one(abl, {n: every[n] for n in names}, CONFIGS["wanda-60"], seeds, None, tasks, work / part / abl)
            for lv in (x for x in ABLATIONS[abl][1] if len(x) > 3):
                one(f"{abl}-n{lv[3]}", {POOL_NAME: every[POOL_NAME]}, CONFIGS["wanda-60"], seeds, lv[3], tasks,
                    work / part / f"{abl}-n{lv[3]}")
    timings["total"] = round(time.perf_counter() - t_start, 1)
    stamp = work / f"{part}-timing.json"
    prior = json.loads(stamp.read_text()) if stamp.exists() else []
    stamp.write_text(json.dumps(prior + [timings | {"finished": time.strftime("%Y-%m-%d %H:%M:%S")}], indent=1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("part", choices=["table", "ablations", "gemma"])
    r.add_argument("--work", default="runs/study")
    r.add_argument("--seeds", type=int, default=None, help="rebuilt seeds (default: 5 table, 3 ablations)")
    r.add_argument("--limit", type=int, default=None, help="items of every task (default: study_plan.TABLE_LIMIT per task for the table, 50 ablations)")
    r.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=None,
                   help="table: only these pruning configurations (run one process per configuration)")
    r.add_argument("--reverse-sets", action="store_true", help="validate the sets in reverse order (second process)")
    r.add_argument("--recipes", nargs="+", choices=TABLE_RECIPES, default=None,
                   help="table: only these recipes (a recipe added later; rerun without it to rewrite "
                        "the configuration's results with every set)")
    r.add_argument("--executor", choices=["local", "ray"], default="local",
                   help="ray: every draw a Ray task (RAY_ADDRESS, else a local cluster)")
    r.add_argument("--num-gpus", type=float, default=None, help="ray: GPUs per draw (default: 1 where there are GPUs)")
    r.add_argument("--num-cpus", type=float, default=None, help="ray: CPUs per draw (default: 1)")
    rep = sub.add_parser("report")
    rep.add_argument("--work", default="runs/study")
    rep.add_argument("--docs", default=str(ROOT / "docs"))
    rep.add_argument("--moe", default="runs/moe", help="benchmarks/moe_study.sh's folder (its section of results.md)")
    args = ap.parse_args()
    if args.cmd == "run":
        seeds = args.seeds or (3 if args.part == "ablations" else 5)
        limit = args.limit or (50 if args.part == "ablations" else TABLE_LIMIT)
        run(args.part, Path(args.work), seeds, limit, log=lambda m: print(m, flush=True), configs=args.configs,
            reverse=args.reverse_sets, only=args.recipes, executor=args.executor, num_gpus=args.num_gpus,
            num_cpus=args.num_cpus)
    else:
        from study_report import report  # benchmarks/study_report.py

        report(Path(args.work), Path(args.docs), Path(args.moe))


if __name__ == "__main__":
    main()
