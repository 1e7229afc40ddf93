import numpy as np
import pytest
import torch

from curate.recipe import load_recipe
from curate.steps.cola import embed, kmeans_representatives, mean_pool


def test_mean_pool_respects_the_mask():
    h = torch.arange(24, dtype=torch.float32).view(2, 3, 4)  # (B, L, D)
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    out = mean_pool(h, mask)
    assert torch.allclose(out[0], h[0, :2].mean(0)) and torch.allclose(out[1], h[1].mean(0))


def test_one_representative_per_blob_nearest_its_centre():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(5, 8)) * 20
    x = np.concatenate([c + rng.normal(size=(30, 8)) for c in centres])  # 5 well-separated blobs
    idx, info = kmeans_representatives(x, 5, seed=0, normalize=False)
    assert len(idx) == 5 and sorted({i // 30 for i in idx}) == [0, 1, 2, 3, 4]  # every blob covered
    for i in idx:  # the kept member is the one nearest its blob's mean
        blob = x[(i // 30) * 30:(i // 30 + 1) * 30]
        assert i % 30 == int(np.argmin(np.linalg.norm(blob - blob.mean(0), axis=1)))
    assert kmeans_representatives(x, 5, seed=0, normalize=False)[0] == idx  # seeded
    assert info["clusters"] == 5


def test_embed_runs_the_decoder_only(tiny_lm):
    model, _ = tiny_lm
    called = []
    h = model.lm_head.register_forward_hook(lambda *a: called.append(1))
    try:
        ids = torch.randint(0, model.config.vocab_size, (5, 12))
        last = embed(model, ids, layer="last", batch_size=2)
        mid = embed(model, ids, layer="middle", batch_size=2)
    finally:
        h.remove()
    assert last.shape == (5, model.config.hidden_size) and mid.shape == last.shape
    assert not called and not np.allclose(last, mid)


def test_pool_smaller_than_n_is_an_error():
    with pytest.raises(ValueError, match="at least n=4"):
        kmeans_representatives(np.zeros((3, 2)), 4)


def test_recipe_validates_and_names_the_step():
    r = load_recipe("cola")
    assert r.steps[0].type == "cola" and r.steps[0].layer == "middle"


def test_step_keeps_n_samples_and_records_its_clusters(tiny_ctx):
    from curate.records import Sample
    from curate.steps.cola import ColaSpec as Spec
    from curate.steps.cola import ColaStep

    g = torch.Generator().manual_seed(0)
    samples = [Sample(text=f"s{i}", source="x", doc_id=str(i),
                      input_ids=torch.randint(0, 250, (16,), generator=g).tolist()) for i in range(20)]
    step = ColaStep(Spec(type="cola", layer="last"), target=6, seed=3)
    out = step(samples, tiny_ctx)
    assert len(out) == 6 and len({s.doc_id for s in out}) == 6
    assert step.stats.dropped == 14 and step.stats.extra["cola"]["clusters"] == 6
