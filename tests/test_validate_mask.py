"""curate validate --mask assistant: each draw hands the pruner the drawn rows' assistant_mask."""

from __future__ import annotations

import json

import datasets
import pytest
import torch
from test_validate import VOCAB, WordTokenizer, magnitude_prune, make_set
from tiny_models import tiny_llama

from curate.errors import CurateError
from curate.evaluate.evaluator import EvalConfig
from curate.sets.fingerprint import fingerprint_rows
from curate.validate import ValidateConfig, validate
from prune_backend import PruneConfig


def make_chat_set(root, n=8, L=16):
    g = torch.Generator().manual_seed(3)
    ids = torch.randint(0, VOCAB, (n, L), generator=g).tolist()
    masks = [[int(j >= 4 + i % 5) for j in range(L)] for i in range(n)]  # a distinct mask per row
    rows = {"text": [" ".join(map(str, r)) for r in ids], "input_ids": ids, "source": ["chat"] * n,
            "doc_id": [f"c/{i}" for i in range(n)], "assistant_mask": masks}
    path = root / "chat" / "v1.0.0"
    ds = datasets.Dataset.from_dict(rows)
    ds.save_to_disk(str(path))
    ds.to_parquet(str(path / "data" / "train-00000-of-00001.parquet"))
    (path / "manifest.json").write_text(json.dumps({
        "name": "chat", "version": "v1.0.0", "fingerprint": fingerprint_rows(ds.to_list()),
        "created_at": "2026-11-27T03:00:00Z", "n_samples": n, "seq_len": L, "model": {}, "sources": [], "steps": []}))
    return path, ids, masks


@pytest.fixture
def setup(tmp_path, monkeypatch):
    monkeypatch.setenv("CURATE_CACHE", str(tmp_path / "cache"))
    text = tmp_path / "held.txt"
    text.write_text(" ".join(str(i % 50) for i in range(2000)))
    ev = EvalConfig(texts=[f"{text}=code"], ppl_seq_len=32, ppl_windows=2, tasks=[], limit=None)
    return tmp_path, ev, tiny_llama(vocab_size=VOCAB, hidden=32, layers=2, seed=0)


def test_masked_draws_pass_the_rows_assistant_mask(setup):
    tmp, ev, model = setup
    path, ids, masks = make_chat_set(tmp / "sets")
    seen = []

    def capture(model, input_ids, cfg, stat_mask=None):
        seen.append((input_ids.clone(), stat_mask))
        magnitude_prune(model, input_ids, cfg)

    cfg = ValidateConfig(sets=[str(path)], out=tmp / "out", seeds=2, eval=ev, progress=False,
                         prune=PruneConfig(method="wanda", mask="assistant"))
    validate(cfg, model_objects=(model, WordTokenizer(), None), prune_fn=capture, log=lambda m: None)
    assert len(seen) == 2
    for drawn, mask in seen:
        assert mask is not None and mask.shape == drawn.shape
        for row, m in zip(drawn.tolist(), mask.tolist(), strict=True):
            assert m == masks[ids.index(row)]  # the mask of the very row drawn
    # unmasked: no mask is passed
    seen.clear()
    validate(ValidateConfig(sets=[str(path)], out=tmp / "plain", seeds=1, eval=ev, progress=False),
             model_objects=(model, WordTokenizer(), None), prune_fn=capture, log=lambda m: None)
    assert seen[0][1] is None


def test_mask_on_a_set_without_the_column_is_refused_before_any_draw(setup):
    tmp, ev, model = setup
    plain = make_set(tmp / "sets", "alpha", 0)
    cfg = ValidateConfig(sets=[str(plain)], out=tmp / "out", seeds=1, eval=ev, progress=False,
                         prune=PruneConfig(method="wanda", mask="assistant"))
    with pytest.raises(CurateError, match="assistant_mask"):
        validate(cfg, model_objects=(model, WordTokenizer(), None), prune_fn=magnitude_prune, log=lambda m: None)
    assert not (tmp / "out" / "dense.json").exists()
