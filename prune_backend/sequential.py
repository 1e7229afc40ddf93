"""Sequential layer-by-layer pruning of a decoder (dense or mixture-of-experts), as the reference implementations do.

    from transformers import AutoModelForCausalLM, AutoTokenizer
    from prune_backend import PruneConfig, prune_model
    model = AutoModelForCausalLM.from_pretrained("HuggingFaceTB/SmolLM2-135M")
    tok = AutoTokenizer.from_pretrained("HuggingFaceTB/SmolLM2-135M")
    ids = tok(["some calibration text ..."] * 8, return_tensors="pt").input_ids   # (N, L)
    report = prune_model(model, ids, PruneConfig(method="sparsegpt", sparsity=0.5))

How it runs (SparseGPT Sec. 3, Wanda Sec. 3, in their reference code's order), through the
shared driver :mod:`prune_backend.driver`:

1. Capture the hidden states entering layer 0 and every layer's keyword arguments.
2. For each layer, on the compute device (the rest of the model may stay on CPU):
   a. every matrix of the layer is found (:func:`prune_backend.targets.layer_targets`: linears
      and each expert's gate / up / down; routers kept), and one statistics pass of the dense
      layer accumulates what the method needs (column norms, X^T X), per linear input and per
      expert from its routed tokens (or all tokens, ``moe_calibration="all"``);
   b. every matrix is pruned from those statistics (+ DSnoT on top of the mask, if asked);
      linears sharing one input (q/k/v, gate/up, an expert's gate/up) are pruned together when
      the method can (SparseGPT: one Cholesky); an expert under ``min_expert_tokens`` takes
      the stated fallback;
   c. output pass: the *pruned* layer maps the batches to the next layer's inputs.
3. OWL first runs one dense sequential pass to measure each layer's outlier ratio (holding one
   copy of the activations; layer 0's statistics are reused by the pruning pass).
"""

from __future__ import annotations

import time

import torch
from torch import nn

from prune_backend.config import PruneConfig
from prune_backend.driver import (
    Batch,
    StatsCollector,
    capture_inputs,
    collect_stats,
    kv_cache_off,
    layer_prefix,
    module_device,
    no_stats,
    resolve_device,
    walk_layers,
)
from prune_backend.errors import PruneError
from prune_backend.layers import decoder_layers
from prune_backend.methods.base import LinearStats, PruningMethod
from prune_backend.methods.dsnot import dsnot
from prune_backend.methods.magnitude import Magnitude
from prune_backend.methods.owl import outlier_ratio, owl_sparsities
from prune_backend.methods.wanda import wanda_score
from prune_backend.report import PruneReport
from prune_backend.targets import LayerTargets, Target, layer_targets, measure_sparsity

__all__ = ["Batch", "capture_inputs", "prune_model"]


class _SharedPrune:
    """Per-target prune results; targets sharing one accumulator (same input) are pruned together
    when the method has ``prune_shared`` (SparseGPT: one Hessian, one Cholesky, one column loop).

    A group is pruned when its first member is asked for and each result is handed out once, so
    at most one group's fp32 copies are alive at a time. Experts in ``col.magnitude`` (under
    ``min_expert_tokens`` with fallback "magnitude") are pruned by |W| alone.
    """

    def __init__(self, method: PruningMethod, col: StatsCollector, targets: list[Target],
                 sparsity: float, nm: tuple[int, int] | None):
        self.method, self.col, self.sparsity, self.nm = method, col, sparsity, nm
        self.fallback = Magnitude(method.cfg)
        self.groups: dict[str, list[Target]] = {}
        for t in targets:
            self.groups.setdefault(col.share_key(t), []).append(t)
        self.ready: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def by_magnitude(self, t: Target) -> bool:
        return (t.experts, t.expert) in self.col.magnitude

    def result(self, t: Target) -> tuple[torch.Tensor, torch.Tensor]:
        if self.by_magnitude(t):
            return self.fallback.prune(t.weight, LinearStats(), self.sparsity, self.nm)
        if t.name not in self.ready:
            st = self.col.stats_for(t)
            group = self.groups[self.col.share_key(t)]
            if hasattr(self.method, "prune_shared") and len(group) > 1:
                res = self.method.prune_shared([g.weight for g in group], st, self.sparsity, self.nm)
                self.ready.update(zip([g.name for g in group], res, strict=True))
            else:
                self.ready[t.name] = self.method.prune(t.weight, st, self.sparsity, self.nm)
        return self.ready.pop(t.name)


def _linears(layer: nn.Module) -> dict[str, nn.Linear]:
    """The prunable linears of a layer (routers and gates excluded)."""
    return layer_targets(layer).linears


def _collect(layer: nn.Module, lt: LayerTargets, batches: list[Batch], i: int, cfg: PruneConfig, hessian: bool,
             outputs: bool = False) -> StatsCollector:
    return collect_stats(layer, lt, batches, i, hessian=hessian, hessian_fp32=cfg.hessian_fp32, outputs=outputs,
                         **cfg.moe_options())


def check_nm(model: nn.Module, nm: tuple[int, int] | None) -> None:
    """Every matrix the run prunes (linears and each expert's gate / up / down) takes a multiple of
    M inputs, or an N:M pattern cannot group its rows: checked on the shapes, before any
    calibration pass (an expert checked only when its turn came left the layers before it pruned)."""
    if nm is None:
        return
    import math

    m = nm[1]
    dims: dict[int, str] = {}
    for i, layer in enumerate(decoder_layers(model)):
        for t in layer_targets(layer, where=f"decoder layer {i}").targets:
            dims.setdefault(int(t.weight.shape[1]), f"layer {i} {t.name}")
    bad = [(d, where) for d, where in dims.items() if d % m]
    if bad:
        d, where = bad[0]
        g = math.gcd(*dims)
        raise PruneError(f"pattern {nm[0]}:{m} needs every pruned matrix's input dimension to be a multiple of {m}; "
                         f"{where} has {d} inputs",
                         hint=f"use an M that divides {g} (the gcd of the input dimensions), or 'unstructured'")


@torch.no_grad()
def _owl_layer_sparsities(layers, batches: list[Batch], cfg: PruneConfig, device, progress: bool,
                          hessian: bool = False) -> tuple[list[float], list[float], StatsCollector]:
    """OWL's dense pass: per-layer outlier ratio D_l, then the per-layer sparsities.

    Memory: each batch's hidden state is replaced by the layer's output as soon as it exists, so
    the pass holds one copy of the activations (it *consumes* ``batches``: the caller captures
    the inputs again, which costs only the embeddings), and each matrix's score is made, read
    and dropped (:func:`outlier_ratio` with a callable). Time: layer 0's statistics are the
    pruning pass's own (same inputs, dense layer), so they are returned (with X^T X if
    ``hessian``) for reuse; the last layer's output feeds nothing, so its pass stops after the
    last linear's statistics like a pruning statistics pass. Experts count like linears; an
    expert pruned by the magnitude fallback has no statistics and is left out of D_l.
    """
    from tqdm.auto import tqdm

    ratios = []
    first: StatsCollector | None = None
    for i in tqdm(range(len(layers)), desc="owl outliers", disable=not progress):
        layer = layers[i]
        home = module_device(layer)
        layer.to(device)
        last = i == len(layers) - 1
        lt = layer_targets(layer, where=f"decoder layer {i}")
        col = _collect(layer, lt, batches, i, cfg, hessian and i == 0, outputs=not last)
        if not last:
            for b, out in zip(batches, col.outputs, strict=True):
                b.hidden = out
        col.outputs = []
        scored = [t for t in lt.targets if (t.experts, t.expert) not in col.magnitude]
        ratios.append(outlier_ratio(
            lambda col=col, scored=scored: (wanda_score(t.weight, col.stats_for(t).sq_norm) for t in scored),
            cfg.owl_m))
        if i == 0:
            first = col
        layer.to(home)
    assert first is not None
    return ratios, owl_sparsities(ratios, cfg.sparsity, cfg.owl_lambda), first


def expert_rows(layer: int, col: StatsCollector | None, rows: list[dict], **extra) -> list[dict]:
    """One row per expert of a layer: tokens (routed, counted by the statistics), fallback, and the
    zeros / numel (or the most levels) of its matrices in ``rows``, the layer's report rows."""
    if col is None:
        return []
    out = []
    for x in col.experts:
        mine = [r for r in rows if r.get("experts") == x.experts and r.get("expert") == x.expert]
        row = {"layer": layer, "experts": x.experts, "expert": x.expert, "tokens_routed": x.routed,
               "stats_tokens": x.stats_tokens, "fallback": x.fallback, **extra}
        if mine and "zeros" in mine[0]:
            row["target"] = mine[0]["target"]
            row["actual"] = sum(r["zeros"] for r in mine) / max(sum(r["numel"] for r in mine), 1)
        if mine and "levels" in mine[0]:
            row["levels"] = max(r["levels"] for r in mine)
            row["methods"] = sorted({r["method"] for r in mine})
        out.append(row)
    return out


def model_targets(model: nn.Module) -> list[LayerTargets]:
    """Every layer's targets, found before anything changes: an unknown weight fails the run up front."""
    return [layer_targets(layer, where=f"decoder layer {i}") for i, layer in enumerate(decoder_layers(model))]


@torch.no_grad()
def prune_model(model: nn.Module, input_ids: torch.LongTensor, cfg: PruneConfig,
                attention_mask: torch.Tensor | None = None, progress: bool = True,
                stat_mask: torch.Tensor | None = None) -> PruneReport:
    """Prune ``model`` in place on calibration tokens ``input_ids`` (N, L); see the module doc.

    With ``cfg.mask == "assistant"`` the statistics count only the tokens where ``stat_mask``
    (N, L, 0/1) is 1; every token still runs through the model (the context of the masked ones).
    """
    from prune_backend.registry import METHODS

    method_cls = METHODS.get(cfg.method)
    method: PruningMethod = method_cls(cfg)
    if not isinstance(input_ids, torch.Tensor) or input_ids.dim() != 2 or input_ids.numel() == 0:
        raise PruneError("calibration input_ids must be a non-empty (N, L) LongTensor")
    check_nm(model, cfg.nm)
    if cfg.mask == "none":
        stat_mask = None
    elif stat_mask is None or tuple(stat_mask.shape) != tuple(input_ids.shape):
        raise PruneError(f"mask '{cfg.mask}' needs a stat_mask of the shape of input_ids {tuple(input_ids.shape)}",
                         hint="pass the set's assistant_mask, or mask 'none'")
    elif not bool(stat_mask.any()):
        raise PruneError(f"mask '{cfg.mask}': the stat_mask marks no token", hint="use mask 'none'")
    all_targets = model_targets(model)
    if getattr(method, "whole_model", False):
        if stat_mask is not None:
            raise PruneError(f"method {cfg.method} cannot count masked tokens only", hint="use mask 'none'")
        if any(lt.moe for lt in all_targets):
            raise PruneError(f"method {cfg.method} does not prune experts",
                             hint="use wanda, sparsegpt or magnitude on a mixture-of-experts model")
        return method.run(model, input_ids, attention_mask=attention_mask, progress=progress)

    t0 = time.perf_counter()
    device = resolve_device(cfg.device)
    nm = cfg.nm
    layers = decoder_layers(model)
    report = PruneReport(method=cfg.method, pattern=cfg.pattern, sparsity=cfg.sparsity,
                         config=cfg.to_dict(), device=str(device), nsamples=int(input_ids.shape[0]),
                         seqlen=int(input_ids.shape[1]))
    with kv_cache_off(model):
        batches = capture_inputs(model, input_ids, attention_mask, device, cfg.batch_size, stat_mask)
        targets = [cfg.sparsity] * len(layers)
        hessian = "hessian" in method.needs
        needs_stats = bool(method.needs) or cfg.dsnot  # magnitude without DSnoT reads no statistics
        reuse: StatsCollector | None = None  # layer 0's statistics, already taken by OWL's pass
        if cfg.owl:
            report.outlier_ratios, targets, reuse = _owl_layer_sparsities(layers, batches, cfg, device, progress,
                                                                          hessian)
            batches = capture_inputs(model, input_ids, attention_mask, device, cfg.batch_size, stat_mask)
        report.layer_sparsity = targets
        prefix = layer_prefix(model)
        for i, layer in walk_layers(model, batches, device, desc=f"prune {cfg.method}", progress=progress):
            lt = layer_targets(layer, where=f"decoder layer {i}")
            if i == 0 and reuse is not None:
                col, reuse = reuse, None
            elif needs_stats:
                col = _collect(layer, lt, batches, i, cfg, hessian)
            else:
                col = no_stats(lt)
            pruned = _SharedPrune(method, col, lt.targets, targets[i], nm)
            rows = []
            for tg in lt.targets:
                t = time.perf_counter()
                st = col.stats_for(tg)
                W = tg.weight
                new_w, mask = pruned.result(tg)
                swaps = None
                if cfg.dsnot and tg.name.split(".")[0] not in cfg.dsnot_skip and not pruned.by_magnitude(tg):
                    score = wanda_score(new_w, st.sq_norm)
                    new_w, mask, swaps = dsnot(W, new_w, mask, st.sum / max(st.nseq, 1), st.var, score, nm,
                                               max_cycles=cfg.dsnot_max_cycles, threshold=cfg.dsnot_threshold,
                                               var_power=cfg.dsnot_var_power)
                W.copy_(new_w.to(W.dtype))
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                zeros = int((W == 0).sum())
                rows.append({
                    "name": f"{prefix}.{i}.{tg.name}", "layer": i, "linear": tg.name, "experts": tg.experts,
                    "expert": tg.expert, "shape": list(W.shape),
                    "method": "magnitude" if pruned.by_magnitude(tg) else cfg.method, "pattern": cfg.pattern,
                    "owl": cfg.owl, "dsnot": swaps is not None, "dsnot_swaps": swaps, "target": float(targets[i]),
                    "actual": zeros / W.numel(), "zeros": zeros, "numel": W.numel(),
                    "seconds": time.perf_counter() - t,
                })
            report.layers.extend(rows)
            report.experts.extend(expert_rows(i, col, rows))
            del col, pruned
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    report.decoder_sparsity = measure_sparsity(model)["decoder"]
    report.seconds = time.perf_counter() - t0
    return report


