"""The token log-prob kernel equals float64 log_softmax of the model's own full logits."""

from __future__ import annotations

import pytest
import torch

from curate.errors import CurateError
from curate.scoring.logprobs import rows_per_chunk, token_logprobs


def reference(model, seq: torch.Tensor) -> dict[str, torch.Tensor]:
    """From model(x).logits of the sequence alone (no padding), in float64: (T-1,) each."""
    with torch.no_grad():
        logits = model(seq[None]).logits[0, :-1].double()  # (T-1, V)
    logp = torch.log_softmax(logits, -1)
    p = logp.exp()
    mu = (p * logp).sum(-1)
    sigma = (p * (logp - mu[:, None]) ** 2).sum(-1).sqrt()
    return {"token_logp": logp[torch.arange(len(seq) - 1), seq[1:]], "mu": mu, "sigma": sigma, "entropy": -mu}


def padded(seqs: list[torch.Tensor], side: str) -> tuple[torch.Tensor, torch.Tensor]:
    T = max(len(s) for s in seqs)
    ids = torch.zeros(len(seqs), T, dtype=torch.long)
    mask = torch.zeros(len(seqs), T, dtype=torch.long)
    for r, s in enumerate(seqs):
        sl = slice(T - len(s), T) if side == "left" else slice(0, len(s))
        ids[r, sl], mask[r, sl] = s, 1
    return ids, mask


def check_rows(model, out, seqs, keys, tol=1e-5):
    per_row = out["valid"].sum(1).tolist()
    assert per_row == [len(s) - 1 for s in seqs]
    for key in keys:
        for got, s in zip(out[key].split(per_row), seqs, strict=True):
            ref = reference(model, s)[key]
            assert torch.allclose(got.double(), ref, atol=tol, rtol=tol), (key, (got.double() - ref).abs().max())


@pytest.mark.parametrize("side", ["left", "right"])
def test_padded_batch_equals_each_sequence_alone(tiny_lm, side):
    model, _ = tiny_lm
    V = model.config.vocab_size
    g = torch.Generator().manual_seed(0)
    seqs = [torch.randint(3, V, (n,), generator=g) for n in (23, 7, 16, 2)]
    ids, mask = padded(seqs, side)
    # A 5-position chunk budget: the 44 predicted positions go through lm_head in 9 chunks.
    out = token_logprobs(model, ids, mask, moments=True, chunk_bytes=5 * 4 * V * 4)
    check_rows(model, out, seqs, ("token_logp", "mu", "sigma", "entropy"))


def test_lm_head_sees_only_predicted_positions_in_chunks(tiny_lm):
    model, _ = tiny_lm
    V = model.config.vocab_size
    shapes = []
    hook = model.get_output_embeddings().register_forward_hook(lambda m, i, o: shapes.append(tuple(o.shape)))
    try:
        ids, mask = padded([torch.randint(3, V, (n,)) for n in (30, 12, 1)], "left")
        out = token_logprobs(model, ids, mask, chunk_bytes=8 * 4 * V * 4)
    finally:
        hook.remove()
    assert rows_per_chunk(V, 8 * 4 * V * 4) == 8
    assert all(len(s) == 2 and s[0] <= 8 and s[1] == V for s in shapes)  # (m, V), never (B, T, V)
    assert sum(s[0] for s in shapes) == 29 + 11 == out["token_logp"].numel()


def test_nothing_to_predict_returns_empty(tiny_lm):
    model, _ = tiny_lm
    out = token_logprobs(model, torch.tensor([[5], [6]]), moments=True)
    assert out["valid"].shape == (2, 0) and all(out[k].numel() == 0 for k in ("token_logp", "sigma"))


def test_final_logit_softcapping_is_applied():
    """Gemma 2 caps its logits (cap * tanh(logits / cap)); the kernel must do the same."""
    from transformers import Gemma2Config, Gemma2ForCausalLM

    torch.manual_seed(0)
    cfg = Gemma2Config(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, head_dim=8, max_position_embeddings=128,
                       final_logit_softcapping=2.0, pad_token_id=0)
    model = Gemma2ForCausalLM(cfg).eval()
    with torch.no_grad():
        model.get_output_embeddings().weight.mul_(40.0)  # raw logits far beyond the cap of 2
    seqs = [torch.randint(1, 64, (n,), generator=torch.Generator().manual_seed(n)) for n in (12, 5)]
    ids, mask = padded(seqs, "left")
    out = token_logprobs(model, ids, mask, moments=True, chunk_bytes=3 * 4 * 64 * 4)
    check_rows(model, out, seqs, ("token_logp", "mu", "sigma"))
    # The cap matters here: without it the log-probs would differ grossly.
    model.config.final_logit_softcapping = None
    uncapped = token_logprobs(model, ids, mask)["token_logp"]
    model.config.final_logit_softcapping = 2.0
    assert (uncapped - out["token_logp"]).abs().max() > 1.0


def test_is_argmax_equals_argmax_with_ties():
    from curate.scoring.logprobs import _is_argmax

    g = torch.Generator().manual_seed(0)
    logits = torch.randint(0, 4, (200, 7), generator=g).float()  # many ties among 4 values
    targets = torch.randint(0, 7, (200,), generator=g)
    targets[:50] = logits[:50].argmax(-1)  # some targets are the first maximum
    got = _is_argmax(logits, targets)
    assert torch.equal(got, logits.argmax(-1) == targets)
    assert 0 < int(got.sum()) < 200 and bool((logits.gather(-1, targets[:, None]).squeeze(-1) >= logits.amax(-1))[~got].any())


def test_layer_type_masks_window_in_positions_per_type():
    from types import SimpleNamespace

    from curate.scoring.logprobs import layer_type_masks

    T = 6
    mask = torch.ones(1, 1, T, T, dtype=torch.bool).tril()
    pos = torch.tensor([[0, 1, 2, 3, 2, 3]])  # two segments after a shared prefix 0, 1
    mixed = SimpleNamespace(sliding_window=2, layer_types=["sliding_attention", "full_attention"])
    got = layer_type_masks(mixed, mask, pos)
    assert set(got) == {"sliding_attention", "full_attention"} and got["full_attention"] is mask
    # query at index 5 (position 3) sees keys of positions 2 and 3 only: indices 2, 3, 4, 5 by the tril
    assert got["sliding_attention"][0, 0, 5].tolist() == [False, False, True, True, True, True]
    assert list(layer_type_masks(SimpleNamespace(sliding_window=2), mask, pos)) == ["sliding_attention"]
    assert layer_type_masks(SimpleNamespace(sliding_window=4096, use_sliding_window=False), mask, pos) == {"full_attention": mask}
    with pytest.raises(CurateError, match="chunked_attention"):
        layer_type_masks(SimpleNamespace(sliding_window=2, layer_types=["chunked_attention"]), mask, pos)
