"""Every weight a decoder layer holds, and what the backend does with it.

    from prune_backend.targets import layer_targets, measure_sparsity
    lt = layer_targets(model.model.layers[0])
    [t.name for t in lt.targets]     # ['self_attn.q_proj', ..., 'mlp.experts.0.gate_proj', ..., 'mlp.experts.7.down_proj']
    list(lt.routers)                 # ['mlp.gate.weight']: never pruned or quantized
    measure_sparsity(model)          # zeros over every decoder weight matrix, routers included

A *target* is one matrix the methods prune or quantize, as an (out, in) tensor that writes
through to the model: an ``nn.Linear``'s weight, or one expert's gate / up / down matrix, a
view into a fused 3-D parameter (:mod:`prune_backend.moe`). Every parameter of a layer is one
of: a target, a router / gate weight (kept), a bias or other vector (norms, gpt-oss's attention
sinks and expert biases: kept), or an error that names it: a 2-D or 3-D weight the backend does
not understand is never skipped silently (a silent skip once reported 50 % sparsity on a
Mixtral whose decoder weights were 2.9 % zero).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from prune_backend.errors import PruneError
from prune_backend.moe import ROUTER_NAMES, FusedExperts, fused_experts, unfused_expert


@dataclass
class Target:
    """One matrix to prune or quantize."""

    name: str  # within the layer: "self_attn.q_proj", "mlp.experts.3.gate_proj"
    weight: torch.Tensor  # (out, in), writes go to the model
    expert: int | None = None  # expert index, None for a dense linear
    experts: str | None = None  # the experts module ("mlp.experts"), None for a dense linear
    stats_key: str | None = None  # fused experts: the accumulator the matrix reads; linears: found by the hooks
    linear: nn.Linear | None = None


@dataclass
class LayerTargets:
    targets: list[Target] = field(default_factory=list)
    linears: dict[str, nn.Linear] = field(default_factory=dict)  # prunable nn.Linear s, routers excluded
    fused: dict[str, FusedExperts] = field(default_factory=dict)  # experts module name -> adapter
    unfused: dict[str, nn.ModuleList] = field(default_factory=dict)  # "mlp.experts" -> its ModuleList
    routers: dict[str, torch.Tensor] = field(default_factory=dict)  # parameter name -> tensor (kept)

    @property
    def moe(self) -> bool:
        return bool(self.fused or self.unfused)

    def by_name(self) -> dict[str, Target]:
        return {t.name: t for t in self.targets}


def _is_router(name: str) -> bool:
    return bool(name) and name.split(".")[-1] in ROUTER_NAMES


def layer_targets(layer: nn.Module, where: str = "decoder layer") -> LayerTargets:
    """Classify every parameter of ``layer`` (see the module docstring); ``where`` names it in errors."""
    lt = LayerTargets()
    router_prefixes: list[str] = []
    for mname, mod in layer.named_modules():
        inside_router = any(mname == p or mname.startswith(p + ".") for p in router_prefixes)
        if _is_router(mname) and not inside_router:
            router_prefixes.append(mname)
            inside_router = True
        fx = None if inside_router else fused_experts(mod)
        roles = fx.param_roles() if fx is not None else {}
        if fx is not None:
            lt.fused[mname] = fx
            for e in range(fx.num_experts):
                for mat, w in fx.matrices(e).items():
                    lt.targets.append(Target(f"{mname}.{e}.{mat}", w, e, mname,
                                             f"{mname}.{e}.{fx.stats_kind(mat)}"))
        if isinstance(mod, nn.ModuleList) and mname.split(".")[-1] == "experts" and not inside_router:
            lt.unfused[mname] = mod
        for pname, p in mod.named_parameters(recurse=False):
            full = f"{mname}.{pname}" if mname else pname
            if inside_router:
                lt.routers[full] = p
            elif fx is not None and pname in roles:
                continue  # expert matrices above; expert biases stay dense
            elif isinstance(mod, nn.Linear) and pname == "weight":
                lt.linears[mname] = mod
                ue = unfused_expert(mname)
                experts, expert = ue if ue is not None else (None, None)  # ("mlp.experts", 3) of "mlp.experts.3.w1"
                lt.targets.append(Target(mname, mod.weight.data, expert, experts, None, mod))
            elif p.dim() <= 1:
                continue  # norms, biases, attention sinks: never pruned
            else:
                raise PruneError(f"{where}: parameter '{full}' {tuple(p.shape)} of {type(mod).__name__} is a weight "
                                 "the backend does not understand",
                                 hint="prune_backend would leave it dense and misreport the sparsity; add its layout "
                                      "to prune_backend.moe (see its module docstring)")
    return lt


def decoder_matrices(model: nn.Module):
    """(name, (out, in) tensor, kind) of every weight matrix of the decoder layers; kind "target" or "router"."""
    from prune_backend.layers import decoder_layers

    for i, layer in enumerate(decoder_layers(model)):
        lt = layer_targets(layer, where=f"decoder layer {i}")
        for t in lt.targets:
            yield f"{i}.{t.name}", t.weight, "target"
        for name, w in lt.routers.items():
            if w.dim() >= 2:
                yield f"{i}.{name}", w, "router"


def measure_sparsity(model: nn.Module) -> dict[str, float]:
    """Zeros measured in the model: ``targets`` over the matrices the backend prunes, ``decoder`` over
    every decoder weight matrix (routers included: what a reader of "X % sparse" assumes)."""
    z = {"target": 0, "router": 0}
    n = {"target": 0, "router": 0}
    for _, w, kind in decoder_matrices(model):
        z[kind] += int((w == 0).sum())
        n[kind] += w.numel()
    return {"targets": z["target"] / max(n["target"], 1),
            "decoder": (z["target"] + z["router"]) / max(n["target"] + n["router"], 1)}
