"""``curate quantize`` end to end on a tiny model and a set folder made in the test."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner
from tiny_models import tiny_llama

import curate.models
from curate.cli.quantize import quantize
from curate.models import ModelInfo, load_tokenizer, tokenizer_fingerprint
from prune_backend.quant.grid import group_index, max_levels


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer("smollm2-135m")


@pytest.fixture
def fake_model(monkeypatch, tok):
    def _load(name, **kw):
        torch.manual_seed(0)
        model = tiny_llama(vocab_size=49152, hidden=32, layers=2)
        return model, tok, ModelInfo(name=name, source="bundled", path="-", revision=None, sha="x",
                                     tokenizer=tokenizer_fingerprint(tok))

    monkeypatch.setattr(curate.models, "load_model", _load)


def _make_set(path, tok, n=6, L=16):
    import datasets

    texts = [f"Paragraph {i}: the river flows past the old mill and the town square every spring." * 2 for i in range(n)]
    ids = [tok(t, add_special_tokens=False)["input_ids"][:L] for t in texts]
    datasets.Dataset.from_dict({"text": texts, "input_ids": ids}).save_to_disk(str(path))
    return path


def _invoke(*args):
    return CliRunner().invoke(quantize, [*args, "--quiet"], catch_exceptions=True)


def test_gptq_writes_a_model_that_reloads_on_the_grid(tmp_path, tok, fake_model):
    from transformers import AutoModelForCausalLM

    s = _make_set(tmp_path / "set", tok)
    out = tmp_path / "run"
    r = _invoke("--calibration", str(s), "--method", "gptq", "--bits", "3", "--group-size", "16", "--asym",
                "--nsamples", "4", "--out", str(out))
    assert r.exit_code == 0, r.output + repr(r.exception)
    rep = json.loads((out / "quant_report.json").read_text())
    assert rep["nsamples"] == 4 and rep["seqlen"] == 16 and len(rep["layers"]) == 14
    assert 0 < rep["max_levels"] <= 8
    cfg = json.loads((out / "quant_config.json").read_text())
    assert cfg["bits"] == 3 and cfg["sym"] is False and cfg["calibration"]["path"] == str(s)
    assert (out / "quant_report.parquet").exists() and (out / "tokenizer.json").exists()
    assert not (out / "prune_config.json").exists()
    model = AutoModelForCausalLM.from_pretrained(out)
    w = model.model.layers[0].self_attn.o_proj.weight
    assert max_levels(w, group_index(w.shape[1], 16)) <= 8
    torch.manual_seed(0)
    dense = tiny_llama(vocab_size=49152, hidden=32, layers=2)  # what fake_model loaded
    assert not torch.equal(w, dense.model.layers[0].self_attn.o_proj.weight)


def test_rtn_needs_no_calibration(tmp_path, fake_model):
    out = tmp_path / "rtn"
    r = _invoke("--method", "rtn", "--bits", "4", "--group-size", "-1", "--out", str(out))
    assert r.exit_code == 0, r.output + repr(r.exception)
    rep = json.loads((out / "quant_report.json").read_text())
    assert rep["nsamples"] == 0 and rep["max_levels"] <= 16 and "rtn W4 per-channel sym" in r.output


@pytest.mark.parametrize("args, match", [
    (["--bits", "9"], "error: bits"),
    (["--group-size", "0"], "error: group_size 0"),
    (["--method", "rtn", "--act-order"], "error: act_order / static_groups need method gptq"),
    (["--act-order", "--static-groups", "--group-size", "-1"], "error: static_groups needs a group_size"),
    ([], "error: method gptq needs --calibration"),
])
def test_bad_input_one_line_exit_2_nothing_written(tmp_path, fake_model, capsys, args, match):
    from curate.cli import main

    out = tmp_path / "o"
    code = main(["quantize", *args, "--quiet", "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith(match) and "\n" not in err
    assert not out.exists()
