"""``curate prune`` end to end on a tiny model and a set folder made in the test."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from tiny_models import tiny_llama

import curate.models
from curate.cli.prune import prune
from curate.errors import CurateError
from curate.models import ModelInfo, load_tokenizer, tokenizer_fingerprint
from prune_backend.errors import PruneError


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer("smollm2-135m")


@pytest.fixture
def fake_model(monkeypatch, tok):
    def _load(name, **kw):
        model = tiny_llama(vocab_size=49152, hidden=32, layers=2)
        return model, tok, ModelInfo(name=name, source="bundled", path="-", revision=None, sha="x",
                                     tokenizer=tokenizer_fingerprint(tok))

    monkeypatch.setattr(curate.models, "load_model", _load)


def _make_set(path, tok, fp=None, n=6, L=16):
    import datasets

    texts = _texts(n)
    ids = [tok(t, add_special_tokens=False)["input_ids"][:L] for t in texts]
    ds = datasets.Dataset.from_dict({"text": texts, "input_ids": ids})
    ds.save_to_disk(str(path))
    if fp is not None:  # a curate version: readers verify its rows against the manifest's fingerprint
        from curate.sets.fingerprint import fingerprint_batches

        ds.to_parquet(str(path / "data" / "train-00000-of-00001.parquet"))
        (path / "manifest.json").write_text(json.dumps({"name": "t", "version": "v1", "model": {"tokenizer": fp},
                                                        "fingerprint": fingerprint_batches(ds.data.to_batches())[0]}))
    return path


def _invoke(*args):
    return CliRunner().invoke(prune, [*args, "--quiet"], catch_exceptions=True)


def test_prune_writes_model_and_report(tmp_path, tok, fake_model):
    s = _make_set(tmp_path / "set", tok)
    out = tmp_path / "run"
    r = _invoke("--calibration", str(s), "--method", "wanda", "--sparsity", "0.5", "--pattern", "2:4",
                "--nsamples", "4", "--out", str(out))
    assert r.exit_code == 0, r.output + repr(r.exception)
    rep = json.loads((out / "sparsity_report.json").read_text())
    assert rep["nsamples"] == 4 and rep["seqlen"] == 16 and rep["total_sparsity"] == pytest.approx(0.5)
    assert (out / "model.safetensors").exists() and (out / "sparsity_report.parquet").exists()
    assert (out / "tokenizer.json").exists()


@pytest.mark.parametrize("args, match", [
    (["--method", "wanda", "--sparsity", "1.2"], "outside"),
    (["--method", "wanda", "--sparsity", "0.6", "--pattern", "2:4"], "sparsity 0.6 contradicts pattern 2:4"),
    (["--method", "wanda", "--owl", "--pattern", "2:4"], "owl needs pattern 'unstructured'"),
    (["--method", "sparsegpt", "--percdamp", "0"], "percdamp"),
    (["--method", "wandda", "--sparsity", "0.5"], "did you mean 'wanda'"),
])
def test_bad_input_one_line_nothing_written(tmp_path, tok, fake_model, args, match):
    s = _make_set(tmp_path / "set", tok)
    out = tmp_path / "run"
    r = _invoke("--calibration", str(s), *args, "--out", str(out))
    assert isinstance(r.exception, PruneError) and match in str(r.exception)
    assert "\n" not in str(r.exception)
    assert not out.exists()


def test_foreign_tokenizer_refused_unless_retokenize(tmp_path, tok, fake_model):
    s = _make_set(tmp_path / "set", tok, fp="0123456789abcdef")
    out = tmp_path / "run"
    r = _invoke("--calibration", str(s), "--method", "magnitude", "--sparsity", "0.5", "--out", str(out))
    assert isinstance(r.exception, CurateError) and "--retokenize" in str(r.exception)
    assert not out.exists()
    r = _invoke("--calibration", str(s), "--method", "magnitude", "--sparsity", "0.5", "--retokenize",
                "--seq-len", "12", "--out", str(out))
    assert r.exit_code == 0, repr(r.exception)
    assert json.loads((out / "sparsity_report.json").read_text())["seqlen"] == 12


def test_main_prints_one_line_and_exits_2(tmp_path, tok, fake_model, capsys):
    from curate.cli import main

    s = _make_set(tmp_path / "set", tok)
    capsys.readouterr()  # drop the set writer's progress bar
    code = main(["prune", "--calibration", str(s), "--method", "wanda", "--sparsity", "0", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: sparsity") and "\n" not in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("pattern, sparsity", [("1:4", 0.75), ("2:8", 0.75), ("4:8", 0.5)])
def test_pattern_sets_the_sparsity(tmp_path, tok, fake_model, pattern, sparsity):
    s = _make_set(tmp_path / "set", tok)
    out = tmp_path / "run"
    r = _invoke("--calibration", str(s), "--method", "sparsegpt", "--pattern", pattern, "--out", str(out))
    assert r.exit_code == 0, r.output + repr(r.exception)
    rep = json.loads((out / "sparsity_report.json").read_text())
    assert rep["sparsity"] == sparsity and rep["total_sparsity"] == pytest.approx(sparsity)


def test_retokenized_ids_are_the_models_tokenizer_ids(tmp_path, monkeypatch):
    """A set built for tokenizer A (SmolLM2's), pruned with --retokenize on a model whose tokenizer B
    (bytes) differs: the ids the pruner sees decode with B to the set's text."""
    import datasets
    from tiny_models import TINY_VOCAB, tiny_tokenizer

    import prune_backend.sequential

    tok_a, tok_b = load_tokenizer("smollm2-135m"), tiny_tokenizer()
    s = _make_set(tmp_path / "set", tok_a, fp=tokenizer_fingerprint(tok_a))
    monkeypatch.setattr(curate.models, "load_model", lambda name, **kw: (
        tiny_llama(vocab_size=TINY_VOCAB), tok_b,
        ModelInfo(name=name, source="local", path="-", revision=None, sha="x", tokenizer=tokenizer_fingerprint(tok_b))))
    seen = []
    real = prune_backend.sequential.prune_model
    monkeypatch.setattr(prune_backend.sequential, "prune_model", lambda m, ids, cfg, **kw: seen.append(ids) or real(
        m, ids, cfg, **kw))
    r = _invoke("--calibration", str(s), "--method", "wanda", "--retokenize", "--seq-len", "40", "--nsamples", "3",
                "--seed", "1", "--out", str(tmp_path / "run"))
    assert r.exit_code == 0, r.output + repr(r.exception)
    (ids,) = seen
    assert ids.shape == (3, 40)
    texts = set(_texts())
    for row in ids:
        decoded = tok_b.decode(row.tolist())
        assert any(t.startswith(decoded) for t in texts), decoded
    stored = datasets.load_from_disk(str(s))["input_ids"]  # tokenizer A's ids: not what the pruner saw
    assert not any(row.tolist()[:len(st)] == st for row in ids for st in stored)


def _texts(n=6):
    return [f"Paragraph {i}: the river flows past the old mill and the town square every spring." * 2 for i in range(n)]
