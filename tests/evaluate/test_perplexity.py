"""Window perplexity equals transformers' own loss, through the kernel, and windows stay independent."""

import math

import pytest
import torch

from curate.evaluate.perplexity import perplexity, window_nll


def test_matches_transformers_loss(tiny_lm):
    model, _ = tiny_lm
    V = model.config.vocab_size
    x = torch.randint(0, V, (5, 40), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = math.exp(model(x, labels=x).loss.item())  # mean NLL over all 5 * 39 predictions
    # 7 positions per lm_head chunk: several chunks per batch.
    assert perplexity(model, x, batch_size=2, chunk_bytes=7 * 4 * V * 4) == pytest.approx(ref, rel=1e-5)


@pytest.mark.parametrize("rows", [1, 5, 39, 128])
def test_chunk_size_does_not_change_nll(tiny_lm, rows):
    model, _ = tiny_lm
    V = model.config.vocab_size
    x = torch.randint(0, V, (3, 40), generator=torch.Generator().manual_seed(1))
    ref = window_nll(model, x, chunk_bytes=10**9)
    assert torch.allclose(window_nll(model, x, chunk_bytes=rows * 4 * V * 4), ref, rtol=1e-6)


def test_windows_are_independent(tiny_lm):
    """No context carries across windows: a window's NLL does not depend on its batch mates."""
    model, _ = tiny_lm
    x = torch.randint(0, model.config.vocab_size, (4, 32), generator=torch.Generator().manual_seed(2))
    together = window_nll(model, x)
    alone = torch.cat([window_nll(model, x[i:i + 1]) for i in range(4)])
    assert torch.allclose(together, alone, rtol=1e-5)


def test_rejects_one_token_windows(tiny_lm):
    with pytest.raises(ValueError, match="at least 2 tokens"):
        perplexity(tiny_lm[0], torch.zeros(3, 1, dtype=torch.long))
