"""`curate score`: outputs, side-by-side sets, scores stored beside a version without touching it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from curate.cli.score import score
from curate.records import Sample


def _digest_tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and "extras" not in p.parts}


@pytest.fixture()
def version_dir(tmp_path):
    from curate.sets.write import write_version

    base = " ".join(f"w{i}" for i in range(60))
    samples = [Sample(text=t, source="toy", doc_id=f"d{i}", input_ids=[3 + i] * 8, scores={"ppl": 1.0 + i})
               for i, t in enumerate([base, base + " tail", "alpha beta gamma delta epsilon " * 6, "one two three four"])]
    path, _ = write_version(samples, {"seed": 0, "n_samples": 4, "seq_len": 8}, tmp_path / "out", "toy")
    return path


def test_score_set_writes_outputs_and_keeps_fingerprint(version_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("CURATE_CACHE", str(tmp_path / "cache"))
    ref = tmp_path / "ref"
    ref.mkdir()
    pl.DataFrame({"text": [" ".join(f"w{i}" for i in range(30)), "nothing similar"], "id": ["r0", "r1"]}) \
        .write_parquet(ref / "ref.parquet")
    before = _digest_tree(version_dir)
    manifest_before = (version_dir / "manifest.json").read_bytes()
    out = tmp_path / "scores"
    r = CliRunner().invoke(score, [str(version_dir), str(version_dir), "--scores", "ngram_aggregation,diversity",
                                   "--reference", str(ref), "--out", str(out), "--quiet"])
    assert r.exit_code == 0, r.output
    # Per-sample parquet: both inputs, every score column, in sample order.
    df = pl.read_parquet(out / "scores.parquet")
    assert df.height == 8 and {"minhash_jaccard", "ngram_repeat_contrib", "near_dups", "distinct_1"} <= set(df.columns)
    one = df.filter(pl.col("doc_id") == "d0").row(0, named=True)
    assert one["near_dups"] == 1.0 and one["minhash_jaccard"] > 0.3
    summary = json.loads((out / "summary.json").read_text())
    assert len(summary["sets"]) == 2 and "reference" in summary["sets"][0] and "aggregation" in summary["sets"][0]
    assert "| toy@v1.0.0 |" in (out / "summary.md").read_text()
    assert (out / "plots" / "minhash_jaccard.png").stat().st_size > 1000
    # Stored beside the version, which is otherwise byte-identical (fingerprint unchanged).
    stored = version_dir / "extras" / "scores"
    assert pl.read_parquet(stored / "samples.parquet").height == 4
    assert _digest_tree(version_dir) == before
    assert (version_dir / "manifest.json").read_bytes() == manifest_before
    from curate.sets.read import load_set
    from curate.sets.write import fingerprint_rows

    cs = load_set(version_dir)
    assert fingerprint_rows(list(cs.dataset)) == cs.fingerprint


def test_unknown_input_is_a_one_line_error(tmp_path):
    r = CliRunner().invoke(score, ["no-such-thing", "--scores", "diversity", "--out", str(tmp_path / "o")])
    assert r.exit_code != 0
    assert "neither a calibration set folder nor a bundled source" in str(r.exception)


@pytest.mark.slow
def test_bundled_model_scores_sources(tmp_path):
    """Real SmolLM2 on two bundled sources: finite, plausible, Wikipedia more predictable than code."""
    out = tmp_path / "s"
    r = CliRunner().invoke(score, ["wikipedia", "python-stdlib", "--n", "8", "--seq-len", "128",
                                   "--scores", "ppl,min_k_pp,entropy", "--out", str(out), "--quiet"])
    assert r.exit_code == 0, r.output
    sets = {s["name"]: s["scores"] for s in json.loads((out / "summary.json").read_text())["sets"]}
    for s in sets.values():
        assert 1.5 < s["ppl"]["mean"] < 200 and s["ppl"]["n"] == 8
        assert s["min_k_pp"]["mean"] < 0.5 and s["entropy"]["mean"] > 0
