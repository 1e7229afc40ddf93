"""The sequential driver on tiny random Llama models: exact sparsity, patterns, untouched parts."""

from __future__ import annotations

import json

import polars as pl
import pytest
import torch
from tiny_models import tiny_gemma3, tiny_llama

from prune_backend import METHODS, PruneConfig, PruneError, decoder_layers, prune_model, save_pruned
from prune_backend.driver import StatsCollector as _StatsCollector
from prune_backend.driver import capture_inputs
from prune_backend.driver import run_layer as _run_layer
from prune_backend.methods.base import LinearStats

LINEARS = 7  # q k v o gate up down


def _ids(n=6, L=24, seed=0):
    return torch.randint(3, 256, (n, L), generator=torch.Generator().manual_seed(seed))


def _linears(model):
    for i, layer in enumerate(decoder_layers(model)):
        for name, mod in layer.named_modules():
            if isinstance(mod, torch.nn.Linear):
                yield i, name, mod.weight.data


def _run(method, pattern="unstructured", sparsity=None, **kw):
    model = tiny_llama(layers=3, hidden=32, intermediate=64)
    emb = model.get_input_embeddings().weight.clone()
    head = model.lm_head.weight.clone()
    rep = prune_model(model, _ids(), PruneConfig(method=method, sparsity=sparsity, pattern=pattern,
                                                 batch_size=4, **kw), progress=False)
    return model, rep, emb, head


@pytest.mark.parametrize("sparsity", [0.5, 0.3])
def test_wanda_exact_per_row(sparsity):
    model, rep, emb, head = _run("wanda", sparsity=sparsity)
    for _, _, w in _linears(model):
        assert ((w == 0).sum(1) == round(w.shape[1] * sparsity)).all()
    assert len(rep.layers) == 3 * LINEARS
    assert torch.equal(model.get_input_embeddings().weight, emb) and torch.equal(model.lm_head.weight, head)


def test_magnitude_exact_per_layer():
    model, rep, *_ = _run("magnitude", sparsity=0.6)
    for _, _, w in _linears(model):
        assert int((w == 0).sum()) == round(w.numel() * 0.6)
    assert rep.total_sparsity == pytest.approx(0.6, abs=1e-3)


@pytest.mark.parametrize("method", ["magnitude", "wanda", "sparsegpt"])
@pytest.mark.parametrize("pattern", ["1:4", "2:4", "2:8", "4:8"])
def test_nm_keeps_exactly_n_of_m_everywhere(method, pattern):
    """N:M keeps N non-zeros in every M consecutive inputs; the sparsity (1 - N/M) follows from it."""
    n, m = map(int, pattern.split(":"))
    model, rep, emb, head = _run(method, pattern=pattern, dsnot=True, dsnot_skip=())
    assert rep.sparsity == 1 - n / m
    for _, _, w in _linears(model):
        assert ((w.view(w.shape[0], -1, m) != 0).sum(-1) == n).all()
    assert torch.equal(model.get_input_embeddings().weight, emb) and torch.equal(model.lm_head.weight, head)
    assert all(r["actual"] == 1 - n / m for r in rep.layers)


def test_sparsegpt_exact_per_block():
    model, rep, *_ = _run("sparsegpt", blocksize=16)
    for _, _, w in _linears(model):
        for b in range(0, w.shape[1], 16):
            assert int((w[:, b:b + 16] == 0).sum()) == w.shape[0] * 8


@pytest.mark.parametrize("method", ["magnitude", "wanda", "sparsegpt"])
def test_owl_layer_ratios_exact(method):
    model, rep, *_ = _run(method, sparsity=0.6, owl=True)
    assert len(rep.layer_sparsity) == 3 and sum(rep.layer_sparsity) / 3 == pytest.approx(0.6)
    assert max(rep.layer_sparsity) - min(rep.layer_sparsity) == pytest.approx(0.16)
    for i, _, w in _linears(model):
        s = rep.layer_sparsity[i]
        if method == "wanda":
            assert ((w == 0).sum(1) == round(w.shape[1] * s)).all()
        elif method == "magnitude":
            assert int((w == 0).sum()) == round(w.numel() * s)
        else:
            assert abs(float((w == 0).float().mean()) - s) < 0.02


def test_dsnot_keeps_sparsity_and_swaps():
    model, rep, *_ = _run("wanda", dsnot=True, dsnot_skip=())
    for _, _, w in _linears(model):
        assert ((w == 0).sum(1) == w.shape[1] // 2).all()
    assert sum(r["dsnot_swaps"] for r in rep.layers) > 0


def test_dsnot_skips_mlp_by_default_like_reference():
    _, rep, *_ = _run("wanda", dsnot=True)
    assert {r["linear"].split(".")[0] for r in rep.layers if r["dsnot"]} == {"self_attn"}


def test_bf16_model_stays_bf16_and_exact():
    model = tiny_llama(layers=2).to(torch.bfloat16)
    prune_model(model, _ids(), PruneConfig(method="sparsegpt", sparsity=0.5, pattern="2:4"), progress=False)
    for _, _, w in _linears(model):
        assert w.dtype == torch.bfloat16
        assert ((w.view(w.shape[0], -1, 4) == 0).sum(-1) >= 2).all()


def test_capture_replays_the_models_own_forward_with_padding():
    # Running the captured layer-0 inputs through the layers with the captured kwargs must give
    # exactly what the model computes itself, padding mask and rotary embeddings included.
    model = tiny_llama(layers=3)
    ids = _ids(4, 20)
    am = torch.ones_like(ids)
    am[1, :5] = 0  # left padding
    am[3, :9] = 0
    batches = capture_inputs(model, ids, am, torch.device("cpu"), batch_size=2)
    seen = []
    h = decoder_layers(model)[-1].register_forward_hook(lambda m, a, o: seen.append(o[0] if isinstance(o, tuple) else o))
    with torch.no_grad():
        model.model(input_ids=ids, attention_mask=am, use_cache=False)
    h.remove()
    ours = []
    for b in batches:
        for i, layer in enumerate(decoder_layers(model)):
            with torch.no_grad():
                b.hidden = _run_layer(layer, b, i)
        ours.append(b.hidden)
    assert torch.allclose(torch.cat(ours), seen[0], atol=1e-5)


def test_capture_keeps_each_layer_types_own_mask_and_rotary_gemma3():
    # Gemma 3 gives sliding-window and full-attention layers their own mask and rotary theta: the
    # kwargs are captured per layer, so the replay is the model's own forward. Replaying every layer
    # with layer 0's kwargs (a capture at layer 0 only) gives another result: the test can fail.
    model = tiny_gemma3(layers=3, sliding_window=4)
    ids = _ids(4, 20)
    batches = capture_inputs(model, ids, None, torch.device("cpu"), batch_size=4)
    seen = []
    h = decoder_layers(model)[-1].register_forward_hook(lambda m, a, o: seen.append(o[0] if isinstance(o, tuple) else o))
    with torch.no_grad():
        model.model(input_ids=ids, use_cache=False)
    h.remove()
    (b,) = batches
    x0, ours, first_only = b.hidden, b.hidden, b.hidden
    for i, layer in enumerate(decoder_layers(model)):
        with torch.no_grad():
            b.hidden = ours
            ours = _run_layer(layer, b, i)
            b.hidden = first_only
            first_only = _run_layer(layer, b, 0)
    assert torch.allclose(ours, seen[0], atol=1e-5)
    assert not torch.allclose(first_only, seen[0], atol=1e-3)
    assert x0.shape == (4, 20, 32)


def test_gemma3_prunes_every_linear_of_both_layer_types():
    model = tiny_gemma3(layers=3)
    rep = prune_model(model, _ids(6, 24), PruneConfig(method="wanda", sparsity=0.5, batch_size=3), progress=False)
    pruned = [(i, n) for i, n, w in _linears(model) if float((w == 0).float().mean()) == 0.5]
    assert len(pruned) == 3 * LINEARS and rep is not None


def test_early_stop_and_shared_inputs_give_identical_statistics():
    model = tiny_llama(layers=1)
    batches = capture_inputs(model, _ids(8), None, torch.device("cpu"), batch_size=2)
    layer = decoder_layers(model)[0]
    lins = {n: m for n, m in layer.named_modules() if isinstance(m, torch.nn.Linear)}
    fast = _StatsCollector(lins, hessian=True, stop_early=True)
    for b in batches:
        fast.run(layer, b, 0)
    fast.remove()
    assert fast.owner["self_attn.k_proj"] == fast.owner["self_attn.v_proj"] == "self_attn.q_proj"
    assert fast.owner["mlp.up_proj"] == "mlp.gate_proj"
    # brute force: record every linear's input separately on full forwards
    xs = {n: [] for n in lins}
    hs = [m.register_forward_pre_hook(lambda mod, a, n=n: xs[n].append(a[0])) for n, m in lins.items()]
    with torch.no_grad():
        for b in batches:
            _run_layer(layer, b, 0)
    for h in hs:
        h.remove()
    for n in lins:
        ref = LinearStats.from_inputs(torch.cat([x.reshape(-1, x.shape[-1]) for x in xs[n]]), hessian=True)
        st = fast.stats_for(n)
        assert st.ntokens == ref.ntokens
        assert torch.allclose(st.sumsq, ref.sumsq, rtol=1e-5) and torch.allclose(st.hessian, ref.hessian, rtol=1e-4, atol=1e-4)


def test_report_and_save_roundtrip(tmp_path):
    from transformers import AutoModelForCausalLM

    model, rep, *_ = _run("wanda")
    out = save_pruned(model, None, tmp_path / "pruned", rep)
    data = json.loads((out / "sparsity_report.json").read_text())
    assert data["total_sparsity"] == pytest.approx(0.5) and len(data["layers"]) == 3 * LINEARS
    df = pl.read_parquet(out / "sparsity_report.parquet")
    assert set(["name", "target", "actual", "pattern", "method", "seconds"]) <= set(df.columns)
    assert (df["actual"] == 0.5).all()
    again = AutoModelForCausalLM.from_pretrained(out)
    for (_, _, a), (_, _, b) in zip(_linears(model), _linears(again), strict=True):
        assert torch.equal(a, b)
    with pytest.raises(PruneError, match="not empty"):
        save_pruned(model, None, out, rep)


@pytest.mark.parametrize("kw, match", [
    (dict(sparsity=0.0), r"outside \(0, 1\)"),
    (dict(sparsity=1.0), r"outside \(0, 1\)"),
    (dict(sparsity=1.5), r"outside \(0, 1\)"),
    (dict(sparsity=0.6, pattern="2:4"), "sparsity 0.6 contradicts pattern 2:4"),
    (dict(sparsity=0.5, pattern="1:4"), r"keeps 1 of every 4 weights \(sparsity 0.75\)"),
    (dict(pattern="2-4"), "not understood"),
    (dict(pattern="4:4"), "0 < N < M"),
    (dict(pattern="2:4", owl=True), "owl needs pattern"),
    (dict(owl=True, owl_lambda=0.6), "owl_lambda 0.6 is out of range"),
    (dict(owl_m=0), "owl_m"),
    (dict(blocksize=0), "blocksize"),
    (dict(percdamp=0), "percdamp"),
    (dict(dsnot_max_cycles=0), "dsnot_max_cycles"),
    (dict(method="wandaa"), "did you mean 'wanda'"),
    (dict(sparsityy=0.5), "unknown field 'sparsityy'"),
])
def test_bad_config_is_one_line_error(kw, match):
    with pytest.raises(PruneError, match=match) as e:
        PruneConfig(**kw)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("pattern, sparsity", [("1:4", 0.75), ("2:4", 0.5), ("2:8", 0.75), ("4:8", 0.5),
                                               ("unstructured", 0.5)])
def test_sparsity_follows_from_the_pattern(pattern, sparsity):
    cfg = PruneConfig(pattern=pattern)
    assert cfg.sparsity == sparsity
    assert PruneConfig(pattern=pattern, sparsity=sparsity) == cfg  # passing the implied value is fine


def test_third_party_method_registers_by_name():
    from prune_backend.methods.wanda import Wanda

    class Reverse(Wanda):
        name = "reverse-test"

        def prune(self, weight, stats, sparsity, nm):
            w, mask = super().prune(-weight, stats, sparsity, nm)
            return -w, mask

    METHODS.register("reverse-test", Reverse)
    try:
        model, rep, *_ = _run("reverse-test")
        assert rep.total_sparsity == pytest.approx(0.5)
    finally:
        METHODS._targets.pop("reverse-test")


def test_llmcompressor_adapter_says_how_to_install():
    try:
        import llmcompressor  # noqa: F401
        pytest.skip("llm-compressor is installed")
    except ImportError:
        pass
    model = tiny_llama(layers=1)
    with pytest.raises(PruneError, match=r"install it with: pip install llmcompressor"):
        prune_model(model, _ids(), PruneConfig(method="llmcompressor-wanda"), progress=False)


@pytest.mark.parametrize("pattern, structure", [("2:4", "2:4"), ("1:4", "3:4"), ("2:8", "6:8")])
def test_llmcompressor_gets_its_own_nm_reading(monkeypatch, pattern, structure):
    """llm-compressor's mask_structure "N:M" counts pruned weights; ours counts kept ones."""
    import types

    from prune_backend.llmcompressor_adapter import LLMCompressorWanda

    fake = types.SimpleNamespace(WandaPruningModifier=lambda **kw: kw)
    monkeypatch.setattr("prune_backend.llmcompressor_adapter.requires", lambda *a, **k: fake)
    kw = LLMCompressorWanda(PruneConfig(method="llmcompressor-wanda", pattern=pattern)).modifier()
    assert kw["mask_structure"] == structure
