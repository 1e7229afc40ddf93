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
