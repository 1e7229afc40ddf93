"""Chunked perplexity equals the full-logit reference and never builds full logits."""

import math

import pytest
import torch
from tiny_models import tiny_llama

from curate.evaluate.perplexity import perplexity, window_nll


@pytest.fixture(scope="module")
def model():
    return tiny_llama(vocab_size=256, seed=0)


def test_matches_transformers_loss(model):
    x = torch.randint(0, 256, (5, 40), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = math.exp(model(x, labels=x).loss.item())  # mean NLL over all 5 * 39 predictions
    assert perplexity(model, x, batch_size=2, chunk=7) == pytest.approx(ref, rel=1e-5)


@pytest.mark.parametrize("chunk", [1, 5, 39, 128])
def test_chunk_size_does_not_change_nll(model, chunk):
    x = torch.randint(0, 256, (3, 40), generator=torch.Generator().manual_seed(1))
    ref = window_nll(model, x, chunk=1000)
    assert torch.allclose(window_nll(model, x, chunk=chunk), ref, rtol=1e-6)


def test_head_sees_at_most_chunk_positions(model):
    seen = []
    h = model.get_output_embeddings().register_forward_hook(lambda m, i, o: seen.append(o.shape[1]))
    try:
        perplexity(model, torch.randint(0, 256, (2, 50)), chunk=16)
    finally:
        h.remove()
    assert seen and max(seen) <= 16
    assert sum(seen) == 49 * 1  # one pass over the L-1 predicted positions per batch


def test_windows_are_independent(model):
    """No context carries across windows: a window's NLL does not depend on its batch mates."""
    x = torch.randint(0, 256, (4, 32), generator=torch.Generator().manual_seed(2))
    together = window_nll(model, x)
    alone = torch.cat([window_nll(model, x[i:i + 1]) for i in range(4)])
    assert torch.allclose(together, alone, rtol=1e-5)
