"""`curate list / show / diff` on set versions written in the writer's format."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from conftest_hub import make_rows, make_version

from curate.cli.catalog import diff, list_cmd, show
from curate.errors import CurateError
from curate.sets.catalog import diff_sets, list_sets, recipe_diff, sample_overlap, show_set


@pytest.fixture
def out(tmp_path):
    root = tmp_path / "out"
    rows_a = make_rows(8, 16, seed=0)
    # B keeps 3 of A's rows unchanged, plus 5 new ones; one new row reuses a document of A.
    rows_b = rows_a[:3] + make_rows(5, 16, seed=7)
    rows_b[3] = {**rows_b[3], "doc_id": rows_a[5]["doc_id"]}
    make_version(root, "default", "v1.0.0", rows=rows_a, created_at="2026-11-27T03:00:00Z")
    make_version(root, "default", "v2.0.0", rows=rows_b, created_at="2026-11-27T04:00:00Z",
                 seed=1, recipe_hash="fedcba9876543210",
                 score_summary={"ppl": {"mean": 10.6, "std": 1.5, "min": 7.0, "max": 13.0},
                                "min_k_pp": {"mean": -0.2, "std": 0.1, "min": -0.5, "max": 0.1}})
    v = make_version(root, "wiki", "v1.0.0", rows=make_rows(4, 16, seed=3), created_at="2026-11-27T05:00:00Z")
    (v / "extras").mkdir()
    (v / "extras" / "validation.json").write_text("{}")
    return root


def test_list_orders_versions_and_reports_extras(out):
    rows = list_sets(out)
    assert [(r["name"], r["version"]) for r in rows] == [("default", "v1.0.0"), ("default", "v2.0.0"), ("wiki", "v1.0.0")]
    assert rows[2]["extras"] == "validation" and rows[0]["samples"] == 8
    res = CliRunner().invoke(list_cmd, [str(out)])
    assert res.exit_code == 0
    lines = res.stdout.splitlines()
    assert lines[0].split()[:3] == ["name", "version", "fingerprint"] and len(lines) == 4
    assert json.loads(CliRunner().invoke(list_cmd, [str(out), "--json"]).stdout) == rows


def test_list_missing_folder_is_one_line_error(tmp_path):
    with pytest.raises(CurateError, match="is not a folder"):
        list_sets(tmp_path / "nope")


def test_show_latest_version_of_a_name(out):
    s = show_set(out / "default")  # a name folder resolves to its latest version
    assert s["version"] == "v2.0.0" and s["extras"] == []
    res = CliRunner().invoke(show, [str(out / "default" / "v1.0.0")])
    assert res.exit_code == 0
    assert "default v1.0.0" in res.stdout and "ppl" in res.stdout and "kept 8/10" in res.stdout


def test_diff_recipe_counts_scores_and_overlap(out):
    d = diff_sets(out / "default" / "v1.0.0", out / "default" / "v2.0.0")
    assert not d["same_content"]
    assert d["overlap"]["rows_shared"] == 3 and d["overlap"]["rows_a"] == 8 and d["overlap"]["rows_b"] == 8
    assert d["overlap"]["rows_jaccard"] == pytest.approx(3 / 13)
    assert d["overlap"]["docs_shared"] == 4  # 3 identical rows + 1 other window of a shared document
    assert d["scores"]["ppl"]["delta"] == pytest.approx(1.5)
    assert d["scores"]["min_k_pp"]["mean_a"] is None  # only in B
    assert d["counts"]["a"]["sources"] == {"wikipedia": 6, "shakespeare": 2}
    res = CliRunner().invoke(diff, [str(out / "default" / "v1.0.0"), str(out / "default" / "v2.0.0")])
    assert res.exit_code == 0
    assert "3/8 rows of A appear in B" in res.stdout and "ppl" in res.stdout


def test_diff_of_a_set_with_itself(out):
    d = diff_sets(out / "wiki" / "v1.0.0", out / "wiki" / "v1.0.0")
    assert d["same_content"] and d["overlap"]["rows_jaccard"] == 1.0
    assert d["recipe"] == {"changed": {}, "only_a": {}, "only_b": {}}


def test_recipe_diff_flattens_nested_fields():
    a = {"seed": 0, "strategy": {"name": "self-generation", "temperature": 1.0},
         "sources": [{"name": "wikipedia", "weight": 0.75}]}
    b = {"seed": 0, "strategy": {"name": "self-generation", "temperature": 0.7},
         "sources": [{"name": "wikipedia", "weight": 0.75}, {"name": "chat", "weight": 0.25}], "dedup": True}
    r = recipe_diff(a, b)
    assert r["changed"] == {"strategy.temperature": [1.0, 0.7]}
    assert r["only_b"] == {"dedup": True, "sources.1.name": "chat", "sources.1.weight": 0.25}
    assert r["only_a"] == {}


def test_overlap_needs_the_parquet_shard(out):
    p = out / "default" / "v1.0.0"
    (p / "data" / "train-00000-of-00001.parquet").unlink()
    with pytest.raises(CurateError, match="is missing"):
        sample_overlap(p, out / "default" / "v2.0.0")
