"""benchmarks/study_report.py's results table, loaded from its file (benchmarks/ stays off sys.path)."""

import importlib.util
from pathlib import Path

STUDY_REPORT = Path(__file__).resolve().parents[1] / "benchmarks" / "study_report.py"


def _study_report():
    spec = importlib.util.spec_from_file_location("study_report_under_test", STUDY_REPORT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_results_section_does_not_rank_a_column_at_the_floor():
    import polars as pl

    rows = [(s, seed, "accuracy", d, v) for seed in range(3) for s, g in (("a", 0.5), ("b", 0.4))
            for d, v in (("General", g + 0.01 * seed), ("Math", 0.0))]
    draws = pl.DataFrame(rows, schema=["set", "seed", "kind", "dimension", "retention"], orient="row")
    lines, verdicts = _study_report().results_section(draws, ["a", "b"], "accuracy")
    math_row = [v for v in verdicts if "Math" in v]
    assert math_row == ["- **accuracy Math**: every set and seed at 0.000 (the floor): no ranking."]
    assert "**best**" in lines[2] and lines[2].count("**best**") == 1  # General ranks, Math does not


def _zero_shot_table(gap: float, seeds=range(4)):
    """Tidy rows: the 7 zero-shot accuracies of `default` = those of `wiki-windows` + gap (+ seed noise)."""
    import polars as pl

    from curate.tasks import task_info

    zs = ("boolq", "rte", "hellaswag", "winogrande", "arc_easy_val", "arc_challenge_val", "openbookqa_val")
    rows = []
    for seed in seeds:
        for s, shift in (("default@v1.0.0", gap), ("wiki-windows@v1.0.0", 0.0)):
            for i, t in enumerate(zs):
                v = 0.4 + 0.01 * i + shift + 0.003 * ((seed * 7 + i) % 3)
                rows.append((s, f"{s[:4]}{seed}", seed, f"{t}:{task_info(t).metric}", v))
    return pl.DataFrame(rows, schema=["set", "fingerprint", "seed", "metric", "value"], orient="row"), zs


def test_beware_claim_verdicts_follow_sign_and_p():
    import polars as pl

    mod = _study_report()
    empty = pl.DataFrame(schema={"set": pl.String, "seed": pl.Int64, "kind": pl.String, "dimension": pl.String,
                                 "retention": pl.Float64})
    for gap, verdict in ((0.05, "**holds**"), (-0.05, "**contradicted**"), (0.0, "not shown")):
        table, zs = _zero_shot_table(gap)
        [row] = mod.claim_rows("wanda-60", table, empty, zs, None)
        assert row.endswith(f"| {verdict} |"), row
        assert f"{gap:+.4f}" in row and "over 4 seeds" in row


def test_beware_claim_needs_every_zero_shot_task():
    import polars as pl

    table, zs = _zero_shot_table(0.05)
    table = table.filter(~pl.col("metric").str.starts_with("rte:"))  # one task missing: no mean, no row
    assert _study_report().claim_rows("wanda-60", table, None, zs, None) == []


def test_beware_claim_again_over_the_tasks_above_chance():
    """A second row: the same paired test over only the zero-shot tasks whose dense interval clears
    chance; a gap that lives in a task at chance (BoolQ here) vanishes from it."""
    import polars as pl

    mod = _study_report()
    table, zs = _zero_shot_table(0.0)
    # default loses 0.3 on boolq only; boolq and rte are at chance for the dense model on 40 items
    table = table.with_columns(
        value=pl.when((pl.col("set") == "default@v1.0.0") & pl.col("metric").str.starts_with("boolq:"))
        .then(pl.col("value") - 0.3).otherwise(pl.col("value")),
        dense_value=pl.when(pl.col("metric").str.starts_with("boolq:") | pl.col("metric").str.starts_with("rte:"))
        .then(0.5).otherwise(0.7))
    items = dict.fromkeys(zs, 40)
    assert mod.above_chance(table, items, zs) == ["hellaswag", "winogrande", "arc_easy_val", "arc_challenge_val",
                                                  "openbookqa_val"]
    every, above = mod.claim_rows("wanda-60", table, None, zs, None, items)
    assert "7 zero-shot tasks" in every and every.endswith("| **contradicted** |") and "-0.0429" in every
    assert "the 5 of them above chance: hellaswag, winogrande" in above
    assert "+0.0000" in above and above.endswith("| not shown |")
    assert len(mod.claim_rows("wanda-60", table, None, zs, None)) == 1  # no items: no second row


def test_xu_claim_spearman_against_calibration_perplexity():
    import polars as pl

    mod = _study_report()
    table, zs = _zero_shot_table(0.05)
    keys = table.select("set", "seed", "fingerprint").unique().sort(["set", "seed"])
    feats = {fp: {"log_ppl": 2.0 + 0.1 * i} for i, fp in enumerate(keys["fingerprint"].to_list())}
    # General retention rises with log_ppl (claim holds), Math falls with it (holds), Code rises (contradicted)
    draws = pl.DataFrame([(s, seed, "all", d, sign * feats[fp]["log_ppl"])
                          for s, seed, fp in keys.iter_rows() for d, sign in (("General", 1), ("Math", -1), ("Code", 1))],
                         schema=["set", "seed", "kind", "dimension", "retention"], orient="row")
    rows = mod.claim_rows("wanda-60", table, draws, zs, feats)
    xu = {r.split("|")[2].strip(): r for r in rows[1:]}
    assert xu["Xu: calibration perplexity vs General retention, sign +"].endswith("| **holds** |")
    assert xu["Xu: calibration perplexity vs Math retention, sign -"].endswith("| **holds** |")
    assert xu["Xu: calibration perplexity vs Code retention, sign -"].endswith("| **contradicted** |")
    assert "rho +1.000 over 8 draws" in xu["Xu: calibration perplexity vs General retention, sign +"]


def test_report_without_table_runs_leaves_results_page_alone(tmp_path, monkeypatch):
    # the runs of one part (e.g. only `run gemma`, or a machine whose runs are gone) do not
    # rewrite the pages of the others as "not run yet"
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "results.md").write_text("measured before\n")
    (tmp_path / "work").mkdir()
    monkeypatch.syspath_prepend(str(STUDY_REPORT.parent))  # its `from study_plan import ...`
    _study_report().report(tmp_path / "work", docs, tmp_path / "no-moe")
    assert (docs / "results.md").read_text() == "measured before\n"
    assert not (docs / "results-gemma.md").exists()


def test_moe_section_kept_when_its_runs_are_absent(tmp_path):
    # `report` rewrites results.md from the table runs; the MoE study's folder may be gone (another
    # machine): its section is carried over as it stood, the next section left out
    mod = _study_report()
    page = tmp_path / "results.md"
    page.write_text("# T\n\n## Wanda\n\nrows\n\n" + mod.MOE_HEADING + " (issue 19)\n\nmoe rows\n\n"
                    "### GPTQ\n\nmore\n\n## A second architecture\n\nlink\n")
    kept = mod.kept_section(page, mod.MOE_HEADING)
    assert kept[0].startswith(mod.MOE_HEADING) and "more" in kept and "moe rows" in kept
    assert not any(line.startswith("## A second") for line in kept) and "rows" not in kept
    assert mod.moe_section(tmp_path / "no-moe") == []
    assert mod.kept_section(tmp_path / "absent.md", mod.MOE_HEADING) == []
    assert mod.kept_section(page, "## Nothing like it") == []
