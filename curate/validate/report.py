"""Markdown report and plots of a ``curate validate`` run.

    from curate.validate.report import write_report
    write_report("runs/val", table, config={...}, failures=[], draws=[])
    # -> runs/val/report.md, retention.png, perplexity.png, retention.csv, summary.csv

Every number in the report is computed from the tidy ``table`` handed in (the same one saved
as results.parquet), so the report can always be regenerated from it: mean +- sample std over
seeds of each set's retention per capability dimension (Xu et al. 2026) and in total -- all
metrics together, then accuracy and perplexity *separately* (a set can keep perplexity and
lose accuracy) -- for every pair of sets and each dimension the paired difference over seeds
with its 95 % interval and Holm-corrected p-value (:mod:`curate.stats`; "not distinguishable"
where the seeds do not separate them), the best set per dimension, and each metric's pruned vs
dense value. Task
metrics on which the dense model is at chance (its 95 % Wilson interval includes chance) are
left out of retention, each with its reason.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from curate.evaluate.dimensions import (
    DIMENSIONS,
    TOTAL,
    at_chance,
    best_per_dimension,
    chance_of,
    chance_reason,
    dimension_retention,
    summarize,
    task_items,
    wilson,
)
from curate.markdown import md_table
from curate.stats import ALPHA, pairwise_differences

REPORT = "report.md"
RETENTION_PNG = "retention.png"
PERPLEXITY_PNG = "perplexity.png"


def _pm(mean: float, std: float, digits: int = 3) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "n/a"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def _md_table(headers: list[str], rows: list[list[Any]]) -> str:
    return md_table(headers, rows, cell=str)  # the cells are formatted here already


def metric_summary(table):
    """Per (set, metric): dimension, mean/std of the value over seeds, dense value, retention."""
    import polars as pl

    return (table.group_by(["set", "metric"])
            .agg(pl.col("dimension").first(), pl.col("value").mean().alias("mean"),
                 pl.col("value").std(ddof=1).fill_null(0.0).alias("std"),
                 pl.col("dense_value").first().alias("dense"),
                 pl.col("retention").mean().alias("retention_mean"),
                 pl.col("retention").std(ddof=1).fill_null(0.0).alias("retention_std"),
                 pl.len().alias("n"))
            .sort(["metric", "set"]))


def plot_retention(summary, path: Path) -> None:
    """Grouped bars: retention per dimension (x) per set (colour), error bars = std over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import polars as pl

    dims = [d for d in (*DIMENSIONS, TOTAL) if d in set(summary["dimension"].to_list())]
    sets = sorted(set(summary["set"].to_list()))
    width = 0.8 / max(len(sets), 1)
    fig, ax = plt.subplots(figsize=(max(5, 1.6 * len(dims) + 1), 3.8))
    for i, s in enumerate(sets):
        sub = {r["dimension"]: r for r in summary.filter(pl.col("set") == s).iter_rows(named=True)}
        xs = [j + (i - (len(sets) - 1) / 2) * width for j in range(len(dims))]
        ax.bar(xs, [sub[d]["mean"] if d in sub else 0 for d in dims], width,
               yerr=[sub[d]["std"] if d in sub else 0 for d in dims], capsize=3, label=s)
    ax.axhline(1.0, color="grey", lw=0.8, ls="--")
    ax.set_xticks(range(len(dims)), dims)
    ax.set_ylabel("retention (pruned / dense)")
    ax.set_title("Capability retention, mean ± std over seeds")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_perplexity(msum, path: Path) -> None:
    """Grouped bars: perplexity per held-out text (x) per set, dense as black ticks (log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import polars as pl

    ppl = msum.filter(pl.col("metric").str.starts_with("ppl:"))
    texts = sorted(set(ppl["metric"].to_list()))
    sets = sorted(set(ppl["set"].to_list()))
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(texts) + 2), 4.2))
    width = 0.8 / max(len(sets), 1)
    for i, s in enumerate(sets):
        sub = {r["metric"]: r for r in ppl.filter(pl.col("set") == s).iter_rows(named=True)}
        xs = [j + (i - (len(sets) - 1) / 2) * width for j in range(len(texts))]
        ax.bar(xs, [sub[t]["mean"] if t in sub else 0 for t in texts], width,
               yerr=[sub[t]["std"] if t in sub else 0 for t in texts], capsize=3, label=s)
    dense = {r["metric"]: r["dense"] for r in ppl.iter_rows(named=True)}
    ax.scatter(range(len(texts)), [dense[t] for t in texts], marker="_", s=400, color="black", label="dense", zorder=3)
    ax.set_xticks(range(len(texts)), [t.removeprefix("ppl:") for t in texts], rotation=30, ha="right")
    ax.set_yscale("log")
    ax.set_ylabel("perplexity (lower is better)")
    ax.set_title("Held-out perplexity, mean ± std over seeds")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _tasks_line(ev: dict[str, Any]) -> str:
    """``piqa (Commonsense, validation, first 100 items), ...``: which split each task measured, on how many items."""
    from curate.tasks import task_info

    tasks = ev.get("tasks") or []
    if not tasks:
        return "none"
    items = task_items(tasks, ev.get("limit"))
    parts = []
    for t in tasks:
        info = task_info(t)
        where = ", ".join(x for x in (info.dimension, info.split, f"first {items[t]} items" if t in items else "")
                          if x)
        parts.append(f"`{t}` ({where})")
    return ", ".join(parts)


def _dense_metrics(msum, items: dict[str, int]) -> list[tuple[str, float, int | None]]:
    """(metric, dense value, items its task was scored on) of every metric, sorted."""
    return sorted({(r["metric"], r["dense"], items.get(r["metric"].partition(":")[0]))
                   for r in msum.iter_rows(named=True)}, key=lambda x: x[:2])


def _dense_line(dense: list[tuple[str, float, int | None]]) -> list[str]:
    """The dense model's accuracy on each task metric with a chance level, with its 95 % Wilson
    interval on the items scored: how wide the item counts leave it (none: no such metric)."""
    cells = []
    for metric, dense_value, n in dense:
        chance = chance_of(metric)
        if n and chance is not None:
            lo, hi = wilson(dense_value, n)
            cells.append(f"`{metric}` {dense_value:.3f} [{lo:.3f}, {hi:.3f}] on {n} (chance {chance:g})")
    return [f"Dense accuracy, 95 % Wilson interval on the items scored: {'; '.join(cells)}.", ""] if cells else []


def items_of(config: dict[str, Any]) -> dict[str, int]:
    """{task: items scored} from a validate config's ``eval`` block (known sizes only)."""
    ev = config.get("eval") or {}
    return task_items(ev.get("tasks") or (), ev.get("limit"))


def _kind_tables(table, items: dict[str, int], dims: list[str]) -> list[str]:
    """Accuracy and perplexity retention per dimension, one table each."""
    import polars as pl

    by_kind = summarize(table, items=items, by_kind=True)
    lines: list[str] = []
    for kind, what in (("accuracy", "task accuracy, pruned / dense"), ("perplexity", "held-out perplexity, dense / pruned")):
        sub = by_kind.filter(pl.col("kind") == kind)
        lines += [f"### {kind.capitalize()} retention ({what})", ""]
        if sub.is_empty():
            lines += [f"No {kind} metric above chance in this run.", ""]
            continue
        kdims = [d for d in dims if d in set(sub["dimension"].to_list())]
        rows = []
        for s in sorted(set(sub["set"].to_list())):
            cells = {r["dimension"]: r for r in sub.filter(pl.col("set") == s).iter_rows(named=True)}
            n = max((r["n"] for r in cells.values()), default=0)
            rows.append([s, str(n)] + [_pm(cells[d]["mean"], cells[d]["std"]) if d in cells else "n/a" for d in kdims])
        lines += [_md_table(["set", "seeds", *kdims], rows), ""]
    return lines


def per_seed(table, items: dict[str, int]) -> dict[str, dict[str, dict[int, float]]]:
    """{dimension: {set: {seed: retention}}} of every draw (all metrics together, Total included)."""
    out: dict[str, dict[str, dict[int, float]]] = {}
    for r in dimension_retention(table, items=items).iter_rows(named=True):
        if r["retention"] is not None and math.isfinite(r["retention"]):
            out.setdefault(r["dimension"], {}).setdefault(r["set"], {})[int(r["seed"])] = float(r["retention"])
    return out


def _signed(x: float) -> str:
    return "n/a" if not math.isfinite(x) else f"{x:+.3f}"


def paired_lines(table, items: dict[str, int], dims: list[str]) -> list[str]:
    """The section comparing every pair of sets per dimension: A - B over the shared seeds."""
    lines = ["## Paired differences (A - B over shared seeds, 95 % interval, Holm-corrected p)", "",
             "Seed k of every set is evaluated on the same items and windows, so sets are compared per seed: "
             "the mean of the per-seed differences in retention with its t interval, and a two-sided paired "
             "t-test whose p-value is Holm-corrected over the pairs of that dimension "
             f"(`curate.stats`). A pair is *distinguishable* when the corrected p < {ALPHA}; otherwise "
             "the report says **not distinguishable**: the seeds do not show that either set is better.", ""]
    per = per_seed(table, items)
    rows = []
    for d in dims:
        for pr in pairwise_differences(per.get(d, {})):
            diff = pr.diff
            if pr.distinguishable:
                verdict = f"{pr.a if diff.mean > 0 else pr.b} higher"
            else:
                verdict = "not distinguishable" + (" (fewer than 2 shared seeds)" if diff.n < 2 else "")
            ci = f"[{_signed(diff.low)}, {_signed(diff.high)}]" if diff.n >= 2 else "n/a"
            p = "n/a" if not math.isfinite(diff.p) else f"{diff.p:.3g}"
            ph = "n/a" if not math.isfinite(pr.p_holm) else f"{pr.p_holm:.3g}"
            rows.append([d, f"{pr.a} - {pr.b}", str(diff.n), _signed(diff.mean), ci, p, ph, verdict])
    if not rows:
        return [*lines, "Only one set: nothing to compare.", ""]
    return [*lines, _md_table(["dimension", "pair (A - B)", "seeds", "difference", "95 % interval", "p",
                                "p (Holm)", "verdict"], rows), ""]


def render_report(table, *, config: dict[str, Any], failures: list[dict[str, Any]],
                  draws: list[dict[str, Any]], coverage: dict[str, dict[str, Any]] | None = None) -> str:
    import polars as pl

    items = items_of(config)
    summary = summarize(table, items=items)
    msum = metric_summary(table)
    dense = _dense_metrics(msum, items)
    best = best_per_dimension(summary)
    dims = [d for d in (*DIMENSIONS, TOTAL) if d in set(summary["dimension"].to_list())]
    sets = sorted(set(table["set"].to_list()))
    ev = config.get("eval", {})
    pr, qu = config.get("prune", {}), config.get("quant")
    what = (f"quantized with **{table['method'][0]}** (fake-quantized weights)" if qu else
            f"pruned with **{table['method'][0]}** to sparsity **{pr.get('sparsity')}** ({pr.get('pattern')})")
    lines = [
        "# Calibration set validation",
        "",
        f"Model `{config.get('model')}` {what}, {config.get('seeds')} draw(s) per set "
        f"({config.get('draw')}). Retention = pruned / dense (perplexity: dense / pruned); a dimension's "
        "retention is the mean over its metrics, Total the mean over dimensions (Xu et al. 2026).",
        "",
        f"Perplexity: {ev.get('ppl_windows')} non-overlapping window(s) of {ev.get('ppl_seq_len')} tokens per "
        f"text; tasks: {_tasks_line(ev)}.",
        "",
        *_dense_line(dense),
        "## Retention per capability dimension (mean ± std over seeds)",
        "",
    ]
    rows = []
    for s in sets:
        sub = {r["dimension"]: r for r in summary.filter(pl.col("set") == s).iter_rows(named=True)}
        n = max((r["n"] for r in sub.values()), default=0)
        rows.append([s, str(n)] + [_pm(sub[d]["mean"], sub[d]["std"]) if d in sub else "n/a" for d in dims])
    lines += [_md_table(["set", "seeds", *dims], rows), ""]
    if coverage:
        lines += _coverage_table(summary, sets, coverage)
    lines += _kind_tables(table, items, dims)
    lines += paired_lines(table, items, dims)
    lines += ["## Best set per dimension", ""]
    pairs = {(d, pr.a, pr.b): pr for d, per in per_seed(table, items).items() for pr in pairwise_differences(per)}
    brows = []
    for d in dims:
        if d not in best:
            continue
        ranked = summary.filter(pl.col("dimension") == d).sort(["mean", "set"], descending=[True, False])
        top = ranked.row(0, named=True)
        if ranked.height > 1:
            second = ranked.row(1, named=True)
            gap = top["mean"] - second["mean"]
            # A lead is evidence only when the paired test over seeds says so (Holm over the dimension's pairs).
            pair = pairs.get((d, *sorted((top["set"], second["set"]))))
            if pair is None:
                verdict = f"+{gap:.3f} over {second['set']}"
            elif pair.distinguishable:
                verdict = f"+{gap:.3f} over {second['set']} (p Holm {pair.p_holm:.3g})"
            else:
                verdict = f"+{gap:.3f} over {second['set']} (not distinguishable)"
        else:
            verdict = "only set"
        brows.append([d, best[d], _pm(top["mean"], top["std"]), verdict])
    lines += [_md_table(["dimension", "best set", "retention", "margin"], brows), ""]
    lines += ["## Metrics (pruned mean ± std over seeds, dense, retention)", ""]
    mrows = [[r["metric"], r["dimension"], r["set"], _pm(r["mean"], r["std"]), f"{r['dense']:.3f}",
              _pm(r["retention_mean"], r["retention_std"])] for r in msum.iter_rows(named=True)]
    lines += [_md_table(["metric", "dimension", "set", "pruned", "dense", "retention"], mrows), ""]
    chance = [(m, d, n) for m, d, n in dense if at_chance(m, d, n)]
    if chance:
        lines += ["Left out of dimension retention because the dense model is at chance on them "
                  "(their rows stay in results.parquet):", ""]
        lines += [f"- `{m}`: {chance_reason(m, d, n)}" for m, d, n in chance] + [""]
    lines += [f"![retention]({RETENTION_PNG})", "", f"![perplexity]({PERPLEXITY_PNG})", ""]
    if draws:
        lines += ["## Draws", ""]
        drows = [[d.get("set"), d.get("seed"), "x".join(map(str, d.get("tokens", []))),
                  f"{d.get('measured_sparsity', float('nan')):.4f}", d.get("prune_s"), d.get("eval_s")]
                 for d in sorted(draws, key=lambda d: (d.get("set", ""), d.get("seed", 0)))]
        lines += [_md_table(["set", "seed", "calibration tokens", "measured sparsity", "prune s", "eval s"], drows), ""]
    lines += ["## Failed draws", ""]
    lines += [f"- {f['set']} seed {f['seed']}: `{f['error']}`" for f in failures] or ["None."]
    return "\n".join(lines) + "\n"


def _coverage_table(summary, sets: list[str], coverage: dict[str, dict[str, Any]]) -> list[str]:
    """Expert coverage of each set (``extras/expert_coverage.json``) beside its Total retention."""
    import polars as pl

    rows = []
    for s in sets:
        cov = coverage.get(s)
        tot = summary.filter((pl.col("set") == s) & (pl.col("dimension") == TOTAL))
        ret = _pm(tot["mean"][0], tot["std"][0]) if tot.height else "n/a"
        if cov:
            rows.append([s, f"{cov['entropy_mean']:.3f}", f"{cov['entropy_min']:.3f}",
                         f"{cov['experts_under_min']}/{cov['experts']}", str(cov["min_tokens"]), ret,
                         f"`{cov.get('model', '?')}`"])
        else:
            rows.append([s, "-", "-", "-", "-", ret, "not scored"])
    return ["## Expert coverage beside retention", "",
            "Normalised load entropy of the routers (1 = every expert gets as many tokens) and the experts "
            "below the minimum token count, from `curate score --scores expert_coverage`.", "",
            _md_table(["set", "expert entropy (mean)", "(min layer)", "experts < min", "min tokens",
                       f"retention {TOTAL}", "scored on"], rows), ""]


def write_report(out_dir: str | Path, table, *, config: dict[str, Any], failures: list[dict[str, Any]] | None = None,
                 draws: list[dict[str, Any]] | None = None,
                 coverage: dict[str, dict[str, Any]] | None = None) -> dict[str, Path]:
    """Write report.md, retention.csv, summary.csv, summary_by_kind.csv and the two PNG plots;
    return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    failures, draws = failures or [], draws or []
    paths = {"report": out / REPORT}
    if table.is_empty():
        paths["report"].write_text("# Calibration set validation\n\nNo draw finished.\n\n## Failed draws\n\n"
                                   + "\n".join(f"- {f['set']} seed {f['seed']}: `{f['error']}`" for f in failures) + "\n")
        return paths
    items = items_of(config)
    dimension_retention(table, items=items).write_csv(out / "retention.csv")
    summarize(table, items=items, by_kind=True).write_csv(out / "summary_by_kind.csv")
    summary = summarize(table, items=items)
    summary.write_csv(out / "summary.csv")
    plot_retention(summary, out / RETENTION_PNG)
    plot_perplexity(metric_summary(table), out / PERPLEXITY_PNG)
    paths["report"].write_text(render_report(table, config=config, failures=failures, draws=draws,
                                             coverage=coverage))
    paths.update(retention=out / "retention.csv", summary=out / "summary.csv", summary_by_kind=out / "summary_by_kind.csv",
                 retention_png=out / RETENTION_PNG, perplexity_png=out / PERPLEXITY_PNG)
    return paths
