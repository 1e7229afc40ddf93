"""Sequential layer-by-layer pruning of a Llama-like decoder, as the reference implementations do.

    from transformers import AutoModelForCausalLM, AutoTokenizer
    from prune_backend import PruneConfig, prune_model
    model = AutoModelForCausalLM.from_pretrained("HuggingFaceTB/SmolLM2-135M")
    tok = AutoTokenizer.from_pretrained("HuggingFaceTB/SmolLM2-135M")
    ids = tok(["some calibration text ..."] * 8, return_tensors="pt").input_ids   # (N, L)
    report = prune_model(model, ids, PruneConfig(method="sparsegpt", sparsity=0.5))

How it runs (SparseGPT Sec. 3, Wanda Sec. 3, in their reference code's order):

1. Capture: the model runs on the calibration batches with every decoder layer replaced by a
   pass-through that records the hidden states entering layer 0 and the keyword arguments each
   layer receives (causal/padding mask, ``position_ids``, rotary ``position_embeddings`` as
   computed by the model itself, per layer, so models with per-layer mask types work too). The
   last pass-through raises, so the final norm and lm_head never run: no logits are computed.
2. For each layer, on the compute device (the rest of the model may stay on CPU):
   a. statistics pass: forward pre-hooks on its ``nn.Linear`` modules accumulate the statistics
      the method needs (column norms, X^T X). Linears fed the very same tensor (q/k/v, gate/up)
      share one accumulator. From the second batch on, the pass stops right after the last
      linear's statistics are taken (its matmul and everything after are not needed);
   b. every linear is pruned from those statistics (+ DSnoT on top of the mask, if asked);
   c. output pass: the *pruned* layer maps the batches to the next layer's inputs.
3. OWL first runs one dense sequential pass to measure each layer's outlier ratio (holding one
   copy of the activations; layer 0's statistics are reused by the pruning pass).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from prune_backend.config import PruneConfig
from prune_backend.errors import PruneError
from prune_backend.layers import decoder_layers
from prune_backend.methods.base import LinearStats, PruningMethod
from prune_backend.methods.dsnot import dsnot
from prune_backend.methods.owl import outlier_ratio, owl_sparsities
from prune_backend.methods.wanda import wanda_score
from prune_backend.report import PruneReport

_DROP_KWARGS = ("cache", "past_key_values", "past_key_value", "output_attentions")


class _StopForward(Exception):
    """Raised inside a forward to abandon the rest of it."""


@dataclass
class Batch:
    hidden: torch.Tensor  # (B, L, H) input of the current layer, on the compute device
    kwargs: list[dict[str, Any]]  # per decoder layer: attention mask, position embeddings, ...
    stat_mask: torch.Tensor | None = None  # (B, L) bool: the tokens the statistics count; None = all


def resolve_device(device: str | torch.device | None) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _module_device(mod: nn.Module) -> torch.device | None:
    for t in list(mod.parameters()) + list(mod.buffers()):
        return t.device
    return None


def _layers_holder(model: nn.Module, layers: nn.ModuleList) -> nn.Module:
    for mod in model.modules():
        for child in mod.children():
            if child is layers:
                return mod
    raise PruneError(f"cannot find the module holding the decoder layers of {type(model).__name__}")


class _PassThrough(nn.Module):
    """Stands in for decoder layer ``idx`` during capture: records its inputs, returns them."""

    def __init__(self, inner: nn.Module, idx: int, sink: dict, last: bool):
        super().__init__()
        self.inner, self.idx, self.sink, self.last = inner, idx, sink, last

    def __getattr__(self, name: str):  # models read e.g. ``layer.attention_type``
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self._modules["inner"], name)

    def forward(self, hidden_states, *args, **kwargs):
        if args:
            raise PruneError(f"decoder layer {type(self.inner).__name__} is called with positional "
                              "arguments; prune_backend supports transformers>=5 Llama-like decoders")
        if self.idx == 0:
            self.sink["hidden"] = hidden_states
        elif hidden_states.shape != self.sink["hidden"].shape:
            raise PruneError(f"{type(self.inner).__name__} does not return a plain hidden-state tensor",
                              hint="prune_backend supports transformers>=5 Llama-like decoders")
        self.sink["kwargs"][self.idx] = {k: v for k, v in kwargs.items() if k not in _DROP_KWARGS}
        self.sink["kwargs"][self.idx]["use_cache"] = False
        if self.last:
            raise _StopForward
        return hidden_states


@torch.no_grad()
def capture_inputs(model: nn.Module, input_ids: torch.LongTensor, attention_mask: torch.Tensor | None,
                   device: torch.device, batch_size: int, stat_mask: torch.Tensor | None = None) -> list[Batch]:
    """Hidden states entering decoder layer 0 and every layer's kwargs, per batch (step 1);
    ``stat_mask`` (N, L) is cut into the batches beside them."""
    layers = decoder_layers(model)
    holder = _layers_holder(model, layers)
    moved: list[tuple[nn.Module, torch.device]] = []
    for child in holder.children():
        dev = _module_device(child)
        if child is not layers and dev is not None and dev != device:
            moved.append((child, dev))
            child.to(device)
    originals = list(layers)
    batches: list[Batch] = []
    try:
        for s in range(0, input_ids.shape[0], batch_size):
            sink: dict[str, Any] = {"kwargs": [None] * len(originals)}
            for i, layer in enumerate(originals):
                layers[i] = _PassThrough(layer, i, sink, last=i == len(originals) - 1)
            ids = input_ids[s:s + batch_size].to(device)
            am = None if attention_mask is None else attention_mask[s:s + batch_size].to(device)
            try:
                model(input_ids=ids, attention_mask=am, use_cache=False)
            except _StopForward:
                pass
            sm = None if stat_mask is None else stat_mask[s:s + batch_size].to(device=device, dtype=torch.bool)
            batches.append(Batch(sink["hidden"], sink["kwargs"], sm))
    finally:
        for i, layer in enumerate(originals):
            layers[i] = layer
        for child, dev in moved:
            child.to(dev)
    return batches


def _run_layer(layer: nn.Module, batch: Batch, idx: int) -> torch.Tensor:
    out = layer(batch.hidden, **batch.kwargs[idx])
    return out[0] if isinstance(out, tuple) else out


class _StatsCollector:
    """Forward pre-hooks on a layer's linears; one accumulator per distinct input tensor."""

    def __init__(self, linears: dict[str, nn.Linear], hessian: bool, stop_early: bool, hessian_fp32: bool = True):
        self.linears, self.hessian, self.stop_early = linears, hessian, stop_early
        self.hessian_fp32 = hessian_fp32
        self.stats: dict[str, LinearStats] = {}
        self.owner: dict[str, str] = {}  # linear name -> name of the linear whose accumulator it shares
        self.order: list[str] = []
        self.first = True
        self.nseq = 0
        self.token_mask: torch.Tensor | None = None  # (B*L,) bool of the running batch, or None
        self._seen: dict[int, tuple[torch.Tensor, str]] = {}
        self._handles = [m.register_forward_pre_hook(self._hook(n)) for n, m in linears.items()]

    def _hook(self, name: str) -> Callable:
        def hook(_mod, args):
            x = args[0]
            hit = self._seen.get(id(x))
            if hit is not None and hit[0] is x:  # q/k/v or gate/up reading the same tensor
                self.owner.setdefault(name, hit[1])
            else:
                self.owner.setdefault(name, name)
                # Only the masked tokens enter the sums: (B, L, in) -> (T_masked, in).
                xs = x if self.token_mask is None else x.reshape(-1, x.shape[-1])[self.token_mask]
                self.stats.setdefault(name, LinearStats()).add(xs, hessian=self.hessian, nseq=self.nseq,
                                                                 hessian_fp32=self.hessian_fp32)
                self._seen[id(x)] = (x, name)  # the strong ref keeps id(x) from being reused
            if self.first:
                self.order.append(name)
            elif self.stop_early and name == self.order[-1]:
                raise _StopForward

        return hook

    def run(self, layer: nn.Module, batch: Batch, idx: int) -> torch.Tensor | None:
        self.nseq = batch.hidden.shape[0]
        self.token_mask = None if batch.stat_mask is None else batch.stat_mask.reshape(-1)
        try:
            return _run_layer(layer, batch, idx)
        except _StopForward:
            return None
        finally:
            self.first = False
            self._seen.clear()

    def stats_for(self, name: str) -> LinearStats:
        return self.stats.get(self.owner.get(name, name), LinearStats())

    def remove(self) -> None:
        for h in self._handles:
            h.remove()


class _SharedPrune:
    """Per-linear prune results; linears sharing one accumulator (same input) are pruned together
    when the method has ``prune_shared`` (SparseGPT: one Hessian, one Cholesky, one column loop).

    A group is pruned when its first member is asked for and each result is handed out once, so
    at most one group's fp32 copies are alive at a time.
    """

    def __init__(self, method: PruningMethod, col: _StatsCollector, linears: dict[str, nn.Linear],
                 sparsity: float, nm: tuple[int, int] | None):
        self.method, self.col, self.linears, self.sparsity, self.nm = method, col, linears, sparsity, nm
        self.groups: dict[str, list[str]] = {}
        for name in linears:
            self.groups.setdefault(col.owner.get(name, name), []).append(name)
        self.ready: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def result(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        if name not in self.ready:
            st = self.col.stats_for(name)
            group = self.groups[self.col.owner.get(name, name)]
            if hasattr(self.method, "prune_shared") and len(group) > 1:
                res = self.method.prune_shared([self.linears[n].weight.data for n in group], st, self.sparsity, self.nm)
                self.ready.update(zip(group, res, strict=True))
            else:
                self.ready[name] = self.method.prune(self.linears[name].weight.data, st, self.sparsity, self.nm)
        return self.ready.pop(name)


def _linears(layer: nn.Module) -> dict[str, nn.Linear]:
    return {n: m for n, m in layer.named_modules() if isinstance(m, nn.Linear)}


def check_nm(model: nn.Module, nm: tuple[int, int] | None) -> None:
    """Every linear of every decoder layer takes a multiple of M inputs, or an N:M pattern cannot
    group its rows: checked on the shapes, before any calibration pass."""
    if nm is None:
        return
    import math

    m = nm[1]
    dims: dict[int, str] = {}
    for i, layer in enumerate(decoder_layers(model)):
        for name, lin in _linears(layer).items():
            dims.setdefault(int(lin.weight.shape[1]), f"layer {i} {name}")
    bad = [(d, where) for d, where in dims.items() if d % m]
    if bad:
        d, where = bad[0]
        g = math.gcd(*dims)
        raise PruneError(f"pattern {nm[0]}:{m} needs every pruned linear's input dimension to be a multiple of {m}; "
                         f"{where} has {d} inputs",
                         hint=f"use an M that divides {g} (the gcd of the input dimensions), or 'unstructured'")


@torch.no_grad()
def _owl_layer_sparsities(layers, batches: list[Batch], cfg: PruneConfig, device, progress: bool,
                          hessian: bool = False) -> tuple[list[float], list[float], _StatsCollector]:
    """OWL's dense pass: per-layer outlier ratio D_l, then the per-layer sparsities.

    Memory: each batch's hidden state is replaced by the layer's output as soon as it exists, so
    the pass holds one copy of the activations (it *consumes* ``batches``: the caller captures
    the inputs again, which costs only the embeddings), and each linear's score is made, read
    and dropped (:func:`outlier_ratio` with a callable). The earlier version kept the captured
    inputs, the previous layer's outputs and the new outputs alive at once: three copies
    (10.8 against Wanda's 6.4 GiB on 7B-shaped layers).
    Time: layer 0's statistics are the pruning pass's own (same inputs, dense layer), so they
    are returned (with X^T X if ``hessian``) for reuse; the last layer's output feeds nothing,
    so its pass stops after the last linear's statistics like a pruning statistics pass.
    """
    from tqdm.auto import tqdm

    ratios = []
    first: _StatsCollector | None = None
    for i in tqdm(range(len(layers)), desc="owl outliers", disable=not progress):
        layer = layers[i]
        home = _module_device(layer)
        layer.to(device)
        last = i == len(layers) - 1
        col = _StatsCollector(_linears(layer), hessian=hessian and i == 0, stop_early=last,
                              hessian_fp32=cfg.hessian_fp32)
        try:
            for b in batches:
                out = col.run(layer, b, i)
                if not last:
                    b.hidden = out
        finally:
            col.remove()
        ratios.append(outlier_ratio(
            lambda col=col: (wanda_score(m.weight, col.stats_for(n).sq_norm) for n, m in col.linears.items()),
            cfg.owl_m))
        if i == 0:
            first = col
        layer.to(home)
    assert first is not None
    return ratios, owl_sparsities(ratios, cfg.sparsity, cfg.owl_lambda), first


@contextmanager
def kv_cache_off(model: nn.Module) -> Iterator[None]:
    """Layer-wise passes need no KV cache: ``config.use_cache`` off inside, restored after."""
    use_cache = getattr(model.config, "use_cache", None)
    model.config.use_cache = False
    try:
        yield
    finally:
        if use_cache is not None:
            model.config.use_cache = use_cache


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
    if getattr(method, "whole_model", False):
        if stat_mask is not None:
            raise PruneError(f"method {cfg.method} cannot count masked tokens only", hint="use mask 'none'")
        return method.run(model, input_ids, attention_mask=attention_mask, progress=progress)

    from tqdm.auto import tqdm

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
        reuse: _StatsCollector | None = None  # layer 0's statistics, already taken by OWL's pass
        if cfg.owl:
            report.outlier_ratios, targets, reuse = _owl_layer_sparsities(layers, batches, cfg, device, progress,
                                                                          hessian)
            batches = capture_inputs(model, input_ids, attention_mask, device, cfg.batch_size, stat_mask)
        report.layer_sparsity = targets
        prefix = _layer_prefix(model, layers)
        for i in tqdm(range(len(layers)), desc=f"prune {cfg.method}", disable=not progress):
            layer = layers[i]
            home = _module_device(layer)
            layer.to(device)
            linears = _linears(layer)
            if i == 0 and reuse is not None:
                col, reuse = reuse, None
            else:
                col = _StatsCollector(linears, hessian=hessian, stop_early=True, hessian_fp32=cfg.hessian_fp32)
                try:
                    # Magnitude without DSnoT reads no statistics: skip the statistics pass.
                    for b in batches if (method.needs or cfg.dsnot) else ():
                        col.run(layer, b, i)
                finally:
                    col.remove()
            pruned = _SharedPrune(method, col, linears, targets[i], nm)
            for name, mod in linears.items():
                t = time.perf_counter()
                st = col.stats_for(name)
                W = mod.weight.data
                new_w, mask = pruned.result(name)
                swaps = None
                if cfg.dsnot and name.split(".")[0] not in cfg.dsnot_skip:
                    score = wanda_score(new_w, st.sq_norm)
                    new_w, mask, swaps = dsnot(W, new_w, mask, st.sum / max(st.nseq, 1), st.var, score, nm,
                                               max_cycles=cfg.dsnot_max_cycles, threshold=cfg.dsnot_threshold,
                                               var_power=cfg.dsnot_var_power)
                W.copy_(new_w.to(W.dtype))
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                zeros = int((W == 0).sum())
                report.layers.append({
                    "name": f"{prefix}.{i}.{name}", "layer": i, "linear": name, "shape": list(W.shape),
                    "method": cfg.method, "pattern": cfg.pattern, "owl": cfg.owl, "dsnot": swaps is not None,
                    "dsnot_swaps": swaps, "target": float(targets[i]), "actual": zeros / W.numel(),
                    "zeros": zeros, "numel": W.numel(), "seconds": time.perf_counter() - t,
                })
            del col
            for b in batches:
                b.hidden = _run_layer(layer, b, i)
            layer.to(home)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    report.seconds = time.perf_counter() - t0
    return report


def _layer_prefix(model: nn.Module, layers: nn.ModuleList) -> str:
    for name, mod in model.named_modules():
        if mod is layers:
            return name
    return "layers"
