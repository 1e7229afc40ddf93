"""Mixture-of-experts models: every expert pruned and quantized from its own routed tokens, routers kept.

Tiny random Mixtral, Qwen2-MoE (shared expert + shared_expert_gate), Qwen3-MoE, OLMoE,
DeepSeek-V3 (first layer dense, MLA attention) and gpt-oss (biases, transposed and interleaved
gate/up) from tests/tiny_moe.py; an unfused layout (one nn.Linear per expert) from the same
weights.
"""

from __future__ import annotations

import hashlib

import pytest
import torch
from tiny_moe import ARCHS, tiny_moe, unfuse_experts

from prune_backend import PruneConfig, PruneError, decoder_layers, prune_model, save_pruned
from prune_backend.driver import capture_inputs, collect_stats
from prune_backend.methods.base import LinearStats
from prune_backend.methods.magnitude import magnitude_mask
from prune_backend.quant import QuantConfig, quantize_model
from prune_backend.targets import layer_targets, measure_sparsity


def _ids(n=4, L=32, seed=0):
    return torch.randint(3, 128, (n, L), generator=torch.Generator().manual_seed(seed))


def _kept(model) -> str:
    """Hash of every parameter the backend must leave alone: routers, gates, biases, norms, embeddings."""
    h = hashlib.sha256()
    pruned = set()
    for layer in decoder_layers(model):
        lt = layer_targets(layer)
        pruned |= {id(m.weight) for m in lt.linears.values()}
        pruned |= {id(fx.module._parameters[n]) for fx in lt.fused.values()
                   for n, r in fx.param_roles().items() if r == "expert"}
    for name, p in model.named_parameters():
        if id(p) not in pruned:
            h.update(name.encode() + p.detach().contiguous().numpy().tobytes())
    return h.hexdigest()


def _router_hash(model) -> str:
    h = hashlib.sha256()
    for layer in decoder_layers(model):
        for name, p in layer_targets(layer).routers.items():
            h.update(name.encode() + p.detach().contiguous().numpy().tobytes())
    return h.hexdigest()


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("method,pattern", [("wanda", "unstructured"), ("sparsegpt", "unstructured"),
                                            ("sparsegpt", "2:4")])
def test_every_expert_at_target_routers_untouched(arch, method, pattern):
    model = tiny_moe(arch)
    kept, routers = _kept(model), _router_hash(model)
    rep = prune_model(model, _ids(), PruneConfig(method=method, pattern=pattern, sparsity=0.5), progress=False)
    n_experts = 0
    for layer in decoder_layers(model):
        lt = layer_targets(layer)
        for t in lt.targets:
            assert int((t.weight == 0).sum()) == t.weight.numel() // 2, t.name  # every matrix, every expert
            if pattern == "2:4":
                assert ((t.weight != 0).reshape(t.weight.shape[0], -1, 4).sum(-1) <= 2).all(), t.name
        n_experts += sum(fx.num_experts for fx in lt.fused.values())
    assert measure_sparsity(model)["targets"] == pytest.approx(0.5, abs=1e-9)
    assert rep.decoder_sparsity == pytest.approx(0.5, abs=0.006)  # routers (kept) are in the denominator
    assert _kept(model) == kept and _router_hash(model) == routers and routers != hashlib.sha256().hexdigest()
    assert len(rep.experts) == n_experts > 0
    assert all(x["actual"] == 0.5 and x["target"] == 0.5 for x in rep.experts)
    assert sum(x["tokens_routed"] for x in rep.experts if x["layer"] == rep.experts[-1]["layer"]) == 4 * 32 * 2


@pytest.mark.parametrize("arch", ARCHS)
def test_gptq_quantizes_every_expert(arch):
    model = tiny_moe(arch)
    routers = _router_hash(model)
    dense = {n: p.clone() for n, p in model.named_parameters() if "experts" in n and "bias" not in n}
    rep = quantize_model(model, _ids(), QuantConfig(method="gptq", bits=4, group_size=16), progress=False)
    assert rep.max_levels <= 16
    assert {r["method"] for r in rep.layers} == {"gptq"}
    experts = [r for r in rep.layers if r["expert"] is not None]
    assert experts and all(r["levels"] <= 16 for r in experts)
    for n, p in model.named_parameters():
        if n in dense:
            assert not torch.equal(p, dense[n]), n
    assert _router_hash(model) == routers


def _layer0(arch):
    model = tiny_moe(arch)
    batches = capture_inputs(model, _ids(), None, torch.device("cpu"), batch_size=2)
    layer = decoder_layers(model)[0 if arch != "deepseek_v3" else 1]
    return model, layer, batches, (0 if arch != "deepseek_v3" else 1)


def _routing(layer, batches, idx):
    """The hidden states and top-k ids entering the experts module, per batch, from the model's own forward."""
    from prune_backend.driver import run_layer

    fx = next(iter(layer_targets(layer).fused.values()))
    seen = []
    h = fx.module.register_forward_pre_hook(lambda m, a, k: seen.append((a[0].clone(), a[1].clone())),
                                            with_kwargs=True)
    with torch.no_grad():
        outs = [run_layer(layer, b, idx) for b in batches]
    h.remove()
    return fx, seen, outs


@pytest.mark.parametrize("arch", ARCHS)
def test_expert_statistics_are_those_of_its_routed_tokens(arch):
    model, layer, batches, idx = _layer0(arch)
    fx, seen, outs = _routing(layer, batches, idx)
    lt = layer_targets(layer)
    col = collect_stats(layer, lt, batches, idx, hessian=True, outputs=True)
    for a, b in zip(col.outputs, outs, strict=True):  # the statistics pass computes the layer's own output
        torch.testing.assert_close(a, b)
    name = next(iter(lt.fused))
    for e in range(fx.num_experts):
        xs = torch.cat([x[(k == e).any(-1)] for x, k in zip([s[0] for s in seen], [s[1] for s in seen], strict=True)])
        ref = LinearStats.from_inputs(xs, hessian=True)
        got = col.stats[f"{name}.{e}.gate_up"] if xs.shape[0] else None
        if got is None:
            continue
        assert got.ntokens == xs.shape[0] == col.experts[e].routed
        torch.testing.assert_close(got.hessian, ref.hessian)
        torch.testing.assert_close(got.sq_norm, ref.sq_norm)
        # down_proj's input: the gated activations of exactly those tokens
        assert col.stats[f"{name}.{e}.down"].ntokens == xs.shape[0]


@pytest.mark.parametrize("arch", ["mixtral", "qwen2_moe", "deepseek_v3"])
def test_fused_and_unfused_layouts_prune_alike(arch):
    """Unfused experts (one nn.Linear each) see their routed tokens through the linear hooks: the same
    statistics, so the same SparseGPT result as the fused layout."""
    fused = tiny_moe(arch)
    unfused = unfuse_experts(tiny_moe(arch))
    for layer in decoder_layers(unfused):
        assert not layer_targets(layer).fused
    torch.testing.assert_close(fused(_ids()).logits, unfused(_ids()).logits)
    ra = prune_model(fused, _ids(), PruneConfig(method="sparsegpt", sparsity=0.5), progress=False)
    rb = prune_model(unfused, _ids(), PruneConfig(method="sparsegpt", sparsity=0.5), progress=False)
    for la, lb in zip(decoder_layers(fused), decoder_layers(unfused), strict=True):
        ta, tb = layer_targets(la).by_name(), layer_targets(lb).by_name()
        assert ta.keys() == tb.keys()
        for n in ta:
            assert torch.equal(ta[n].weight == 0, tb[n].weight == 0), n
            torch.testing.assert_close(ta[n].weight, tb[n].weight, rtol=1e-4, atol=1e-5)
    assert [x["tokens_routed"] for x in ra.experts] == [x["tokens_routed"] for x in rb.experts]


@pytest.mark.parametrize("arch", ["mixtral", "gpt_oss"])
def test_all_experts_mode_counts_every_token(arch):
    model, layer, batches, idx = _layer0(arch)
    fx, seen, outs = _routing(layer, batches, idx)
    lt = layer_targets(layer)
    col = collect_stats(layer, lt, batches, idx, hessian=True, moe_calibration="all", outputs=True)
    for a, b in zip(col.outputs, outs, strict=True):  # the layer's output stays the routed one
        torch.testing.assert_close(a, b)
    every = torch.cat([s[0] for s in seen])
    ref = LinearStats.from_inputs(every, hessian=True)
    name = next(iter(lt.fused))
    for e in range(fx.num_experts):
        st = col.stats[f"{name}.{e}.gate_up"]
        assert st.ntokens == every.shape[0] == col.experts[e].stats_tokens
        torch.testing.assert_close(st.hessian, ref.hessian)
    assert sum(x.routed for x in col.experts) == every.shape[0] * 2 < sum(x.stats_tokens for x in col.experts)


def test_all_tokens_fallback_equals_all_mode_for_the_experts_below_the_minimum():
    a, b = tiny_moe("qwen3_moe"), tiny_moe("qwen3_moe")
    ra = prune_model(a, _ids(), PruneConfig(method="sparsegpt", min_expert_tokens=10**6), progress=False)
    rb = prune_model(b, _ids(), PruneConfig(method="sparsegpt", moe_calibration="all"), progress=False)
    assert all(x["fallback"] == "all-tokens" for x in ra.experts) and not any(x["fallback"] for x in rb.experts)
    assert [x["stats_tokens"] for x in ra.experts] == [x["stats_tokens"] for x in rb.experts]
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(pa, pb)


def test_magnitude_fallback_prunes_and_rounds_the_starved_experts():
    ids = _ids()
    model = tiny_moe("mixtral")
    probe = prune_model(tiny_moe("mixtral"), ids, PruneConfig(method="wanda"), progress=False)
    routed = [x["tokens_routed"] for x in probe.experts]
    minimum = sorted(routed)[len(routed) // 2]  # about half the experts fall below it
    dense = tiny_moe("mixtral")  # the same seed: the same weights
    rep = prune_model(model, ids, PruneConfig(method="wanda", min_expert_tokens=minimum,
                                              expert_fallback="magnitude"), progress=False)
    low = {(x["layer"], x["expert"]) for x in rep.experts if x["fallback"] == "magnitude"}
    assert low == {(x["layer"], x["expert"]) for x in probe.experts if x["tokens_routed"] < minimum} and low
    for i, (layer, dlayer) in enumerate(zip(decoder_layers(model), decoder_layers(dense), strict=True)):
        fx, dfx = layer_targets(layer).fused["mlp.experts"], layer_targets(dlayer).fused["mlp.experts"]
        for e in range(fx.num_experts):
            for mat, w in fx.matrices(e).items():
                if (i, e) in low:  # |W| alone chose its zeros
                    assert torch.equal(w == 0, magnitude_mask(dfx.matrices(e)[mat], 0.5)), (i, e, mat)
    assert {r["method"] for r in rep.layers if (r["layer"], r["expert"]) in low} == {"magnitude"}
    q = quantize_model(tiny_moe("mixtral"), ids, QuantConfig(min_expert_tokens=minimum, expert_fallback="magnitude",
                                                            group_size=16), progress=False)
    assert {r["method"] for r in q.layers if (r["layer"], r["expert"]) in low} == {"rtn"}
    assert {r["method"] for r in q.layers if (r["layer"], r["expert"]) not in low} == {"gptq"}


def test_unfused_all_mode_and_fallback():
    model = unfuse_experts(tiny_moe("mixtral"))
    rep = prune_model(model, _ids(), PruneConfig(method="wanda", moe_calibration="all"), progress=False)
    assert all(x["stats_tokens"] == 4 * 32 for x in rep.experts)
    assert all(x["actual"] == 0.5 for x in rep.experts)
    ref = unfuse_experts(tiny_moe("mixtral"))
    prune_model(ref, _ids(), PruneConfig(method="wanda", min_expert_tokens=10**6), progress=False)
    for pa, pb in zip(model.parameters(), ref.parameters(), strict=True):
        assert torch.equal(pa, pb)


@pytest.mark.parametrize("arch", ["mixtral", "gpt_oss", "deepseek_v3"])
def test_pruned_moe_saves_and_reloads(tmp_path, arch):
    from transformers import AutoModelForCausalLM

    model = tiny_moe(arch)
    rep = prune_model(model, _ids(), PruneConfig(method="wanda", pattern="2:4"), progress=False)
    out = save_pruned(model, None, tmp_path / "m", rep)
    again = AutoModelForCausalLM.from_pretrained(out).eval()
    again.config._experts_implementation = "eager"
    assert measure_sparsity(again) == measure_sparsity(model)
    with torch.no_grad():
        torch.testing.assert_close(again(_ids()).logits, model(_ids()).logits)
    assert (out / "sparsity_report.parquet").exists()


def test_an_unknown_weight_is_refused_naming_it():
    model = tiny_moe("mixtral")
    layer = decoder_layers(model)[1]
    layer.mlp.register_parameter("mystery", torch.nn.Parameter(torch.randn(4, 32)))
    before = {n: p.clone() for n, p in model.named_parameters()}
    with pytest.raises(PruneError, match=r"decoder layer 1: parameter 'mlp.mystery' \(4, 32\)"):
        prune_model(model, _ids(), PruneConfig(method="wanda"), progress=False)
    with pytest.raises(PruneError, match="mlp.mystery"):
        quantize_model(model, _ids(), QuantConfig(), progress=False)
    for n, p in model.named_parameters():  # nothing half-done: layer 0 was not pruned either
        assert torch.equal(p, before[n]), n


def test_fused_experts_without_layout_flags_are_refused():
    class Odd(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.gate_up_proj = torch.nn.Parameter(torch.randn(8, 64, 32))
            self.down_proj = torch.nn.Parameter(torch.randn(8, 32, 32))

    model = tiny_moe("olmoe")
    decoder_layers(model)[0].mlp.experts = Odd()
    with pytest.raises(PruneError, match="Odd holds 3-D expert weights without"):
        prune_model(model, _ids(), PruneConfig(method="wanda"), progress=False)


def test_assistant_mask_counts_masked_routed_tokens_only():
    ids = _ids()
    mask = torch.zeros_like(ids)
    mask[:, 16:] = 1
    model = tiny_moe("mixtral")
    rep = prune_model(model, ids, PruneConfig(method="wanda", mask="assistant"), progress=False, stat_mask=mask)
    assert sum(x["tokens_routed"] for x in rep.experts if x["layer"] == 0) == 4 * 16 * 2
    with pytest.raises(PruneError, match="token mask cannot apply"):
        prune_model(unfuse_experts(tiny_moe("mixtral")), ids, PruneConfig(method="wanda", mask="assistant"),
                    progress=False, stat_mask=mask)


def test_whole_model_adapters_refuse_experts():
    with pytest.raises(PruneError, match="does not prune experts"):
        prune_model(tiny_moe("mixtral"), _ids(), PruneConfig(method="llmcompressor-wanda"), progress=False)


def _group_values(w: torch.Tensor, group: int = 128) -> int:
    """Most distinct values in one (row, run of ``group`` input columns) of ``w`` (..., out, in)."""
    best = 0
    for s in range(0, w.shape[-1], group):
        v = w[..., s:s + group].sort(-1).values
        best = max(best, int((1 + (v[..., 1:] != v[..., :-1]).sum(-1)).max()))
    return best


@pytest.mark.parametrize("arch", ["qwen2_moe", "deepseek_v3", "gpt_oss"])
def test_gptq_g128_puts_every_expert_row_group_on_16_values(arch):
    """Width 256: each expert row spans two groups of 128 columns, so a row may hold up to 32 values
    and each of its groups at most 16 (counted on the model's own 3-D parameters, transposed for
    gpt-oss, not on the report)."""
    model = tiny_moe(arch, width=256)
    routers = _router_hash(model)
    fused = {}  # name -> (3-D expert parameter, is_transposed of its module)
    for m_name, m in model.named_modules():
        for k, p in m.named_parameters(recurse=False):
            if p.dim() == 3:
                fused[f"{m_name}.{k}"] = (p, bool(getattr(m, "is_transposed", False)))
    dense = {n: p.detach().clone() for n, (p, _) in fused.items()}
    assert fused and all(p.shape[-1] >= 256 and p.shape[-2] >= 256 for p, _ in fused.values())
    quantize_model(model, _ids(), QuantConfig(method="gptq", bits=4, group_size=128), progress=False)
    for n, (p, transposed) in fused.items():
        w = p.detach().transpose(1, 2) if transposed else p.detach()  # (E, out, in)
        assert _group_values(w) <= 16, n
        assert _group_values(w, group=w.shape[-1]) > 16, n  # a whole row is not on one grid: groups are real
        for e in range(w.shape[0]):
            assert not torch.equal(p[e], dense[n][e]), (n, e)  # every expert changed
    for layer in decoder_layers(model):  # attention, shared experts, dense MLPs: on their grid too
        for lin in layer_targets(layer).linears.values():
            assert _group_values(lin.weight.detach()) <= 16
    assert _router_hash(model) == routers


def _zeros_at(weight: torch.Tensor, target: float) -> bool:
    """Wanda prunes round(in * s) per row, SparseGPT round(out * in * s) per block: both within 0.5 / in."""
    return abs(float((weight == 0).float().mean()) - target) <= 0.5 / weight.shape[1] + 1e-9


@pytest.mark.parametrize("method", ["wanda", "sparsegpt"])
def test_owl_gives_every_expert_its_layer_target(method):
    model = tiny_moe("deepseek_v3")  # 3 layers: the first dense, two MoE
    routers = _router_hash(model)
    rep = prune_model(model, _ids(), PruneConfig(method=method, sparsity=0.5, owl=True), progress=False)
    targets = rep.layer_sparsity
    assert len(targets) == 3 and len({round(t, 6) for t in targets}) == 3  # OWL made them differ
    assert rep.outlier_ratios and sum(targets) / 3 == pytest.approx(0.5)
    n = 0
    for i, layer in enumerate(decoder_layers(model)):
        for t in layer_targets(layer).targets:
            assert _zeros_at(t.weight, targets[i]), (i, t.name)
            n += t.expert is not None
    assert n == 2 * 8 * 3  # two MoE layers x 8 experts x gate / up / down
    assert all(x["target"] == pytest.approx(targets[x["layer"]]) for x in rep.experts)
    assert _router_hash(model) == routers


def test_dsnot_prunes_and_grows_inside_every_expert():
    """DSnoT's default skips modules under ``mlp`` (the reference's ``skip_layer mlp``), experts included;
    with ``dsnot_skip=()`` each expert's rows keep Wanda's count while DSnoT swaps weights in them."""
    plain = tiny_moe("mixtral")
    prune_model(plain, _ids(), PruneConfig(method="wanda"), progress=False)
    default = tiny_moe("mixtral")
    rd = prune_model(default, _ids(), PruneConfig(method="wanda", dsnot=True), progress=False)
    assert not any(r["dsnot"] for r in rd.layers if r["expert"] is not None)
    model = tiny_moe("mixtral")
    routers = _router_hash(model)
    rep = prune_model(model, _ids(), PruneConfig(method="wanda", dsnot=True, dsnot_skip=()), progress=False)
    rows = [r for r in rep.layers if r["expert"] is not None]
    assert len(rows) == 2 * 8 * 3 and all(r["dsnot"] for r in rows)
    assert sum(r["dsnot_swaps"] for r in rows) > 0
    changed = 0
    for la, lp in zip(decoder_layers(model), decoder_layers(plain), strict=True):
        ta, tp = layer_targets(la).by_name(), layer_targets(lp).by_name()
        for name, t in ta.items():
            if t.expert is None:
                continue
            per_row = (t.weight == 0).sum(1)
            assert torch.equal(per_row, (tp[name].weight == 0).sum(1)), name  # Wanda's 50 % per row kept
            changed += not torch.equal(t.weight == 0, tp[name].weight == 0)
    assert changed > 0
    assert _router_hash(model) == routers


def test_nm_pattern_refuses_an_expert_width_before_anything_is_pruned():
    """An expert whose input width is no multiple of M is refused up front, naming it: checked only when
    its turn came, it raised a bare ValueError with layer 0's attention and gate/up already pruned."""
    import transformers as tf
    from transformers import AutoModelForCausalLM

    cfg = tf.MixtralConfig(vocab_size=128, hidden_size=32, intermediate_size=30, num_hidden_layers=2,
                           num_attention_heads=4, num_key_value_heads=2, num_local_experts=4, num_experts_per_tok=2)
    cfg._experts_implementation = "eager"
    model = AutoModelForCausalLM.from_config(cfg).eval()
    before = {n: p.clone() for n, p in model.named_parameters()}
    with pytest.raises(PruneError, match=r"2:4 .* layer 0 mlp\.experts\.0\.down_proj has 30 inputs"):
        prune_model(model, _ids(), PruneConfig(method="wanda", pattern="2:4"), progress=False)
    for n, p in model.named_parameters():
        assert torch.equal(p, before[n]), n


@pytest.mark.parametrize("arch", ["mixtral", "qwen2_moe", "qwen3_moe", "olmoe", "deepseek_v3"])
def test_fused_and_unfused_layouts_quantize_alike(arch):
    """GPTQ on one nn.Linear per expert (its hooks see the routed rows) gives the fused layout's result:
    the same per-expert Hessians, gate and up quantized together in both."""
    fused, unfused = tiny_moe(arch), unfuse_experts(tiny_moe(arch))
    cfg = QuantConfig(method="gptq", bits=4, group_size=16)
    ra = quantize_model(fused, _ids(), cfg, progress=False)
    rb = quantize_model(unfused, _ids(), cfg, progress=False)
    for la, lb in zip(decoder_layers(fused), decoder_layers(unfused), strict=True):
        ta, tb = layer_targets(la).by_name(), layer_targets(lb).by_name()
        assert ta.keys() == tb.keys()
        for n in ta:
            torch.testing.assert_close(ta[n].weight, tb[n].weight, rtol=1e-4, atol=1e-5)
    assert [x["tokens_routed"] for x in ra.experts] == [x["tokens_routed"] for x in rb.experts]
    assert rb.max_levels <= 16 and {r["method"] for r in rb.layers} == {"gptq"}
