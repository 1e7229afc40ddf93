"""The layer-by-layer driver that pruning and quantization share (public API of prune_backend).

    from prune_backend.driver import capture_inputs, collect_stats, kv_cache_off, walk_layers
    from prune_backend.targets import layer_targets
    with kv_cache_off(model):
        batches = capture_inputs(model, ids, None, device, batch_size=8)       # inputs of layer 0
        for i, layer in walk_layers(model, batches, device, desc="my method"):
            lt = layer_targets(layer)                                          # every matrix of the layer
            col = collect_stats(layer, lt, batches, i, hessian=True)           # per linear / per expert
            for t in lt.targets:
                t.weight.copy_(my_compress(t.weight, col.stats_for(t)))       # in place
        # walk_layers then runs the *compressed* layer to make the next layer's inputs

How it runs (SparseGPT Sec. 3, Wanda Sec. 3, GPTQ Alg. 1, in their reference code's order):

1. :func:`capture_inputs`: the model runs on the calibration batches with every decoder layer
   replaced by a pass-through that records the hidden states entering layer 0 and the keyword
   arguments each layer receives (masks, ``position_ids``, rotary embeddings, per layer). The
   last pass-through raises, so the final norm and lm_head never run.
2. :func:`walk_layers` moves each layer to the compute device, hands it to the caller, then
   maps the batches through the modified layer (the next layer's statistics see the errors of
   the layers before it).
3. :func:`collect_stats`: one pass of the dense layer with forward pre-hooks on its linears
   (one accumulator per distinct input tensor: q/k/v and gate/up share one) and, for fused
   experts (:mod:`prune_backend.moe`), the experts module's forward replaced by an
   expert-by-expert one that feeds each expert's accumulators with the tokens the router sent
   to it (``moe_calibration="routed"``) or with every token (``"all"``: statistics only; the
   layer's output stays the routed one). Unfused experts (one ``nn.Linear`` per expert) see
   only their routed tokens through the same linear hooks. An expert whose statistics count
   fewer than ``min_expert_tokens`` tokens falls back to all-token statistics (a second pass
   for those experts only) or to magnitude pruning / round-to-nearest (``expert_fallback``).
   Without experts, from the second batch on the pass stops right after the last linear's
   statistics are taken.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from prune_backend.errors import PruneError
from prune_backend.layers import decoder_layers
from prune_backend.methods.base import LinearStats
from prune_backend.targets import LayerTargets, Target

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


def module_device(mod: nn.Module) -> torch.device | None:
    for t in list(mod.parameters()) + list(mod.buffers()):
        return t.device
    return None


def _layers_holder(model: nn.Module, layers: nn.ModuleList) -> nn.Module:
    for mod in model.modules():
        for child in mod.children():
            if child is layers:
                return mod
    raise PruneError(f"cannot find the module holding the decoder layers of {type(model).__name__}")


def layer_prefix(model: nn.Module) -> str:
    """``model.layers``: the name of the decoder layers' ModuleList, for report row names."""
    layers = decoder_layers(model)
    for name, mod in model.named_modules():
        if mod is layers:
            return name
    return "layers"


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
                             "arguments; prune_backend supports transformers>=5 decoders")
        if self.idx == 0:
            self.sink["hidden"] = hidden_states
        elif hidden_states.shape != self.sink["hidden"].shape:
            raise PruneError(f"{type(self.inner).__name__} does not return a plain hidden-state tensor",
                             hint="prune_backend supports transformers>=5 decoders")
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
        dev = module_device(child)
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


def run_layer(layer: nn.Module, batch: Batch, idx: int) -> torch.Tensor:
    out = layer(batch.hidden, **batch.kwargs[idx])
    return out[0] if isinstance(out, tuple) else out


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


def walk_layers(model: nn.Module, batches: list[Batch], device: torch.device, *, desc: str = "layers",
                progress: bool = False) -> Iterator[tuple[int, nn.Module]]:
    """Yield (index, layer) on ``device``; after the caller's body, map ``batches`` through the layer."""
    from tqdm.auto import tqdm

    layers = decoder_layers(model)
    for i in tqdm(range(len(layers)), desc=desc, disable=not progress):
        layer = layers[i]
        home = module_device(layer)
        layer.to(device)
        try:
            yield i, layer
            with torch.no_grad():
                for b in batches:
                    b.hidden = run_layer(layer, b, i)
        finally:
            layer.to(home)


@dataclass
class ExpertTokens:
    """One expert's calibration tokens in one layer (a row of the report's ``experts`` table)."""

    experts: str  # the experts module, e.g. "mlp.experts"
    expert: int
    routed: int | None = 0  # tokens the router sent to it (among those the statistics count); None: not counted
    stats_tokens: int | None = 0  # tokens its statistics count: routed, or all with moe_calibration "all"
    fallback: str | None = None  # None, "all-tokens" or "magnitude" (quantization: round-to-nearest)


class StatsCollector:
    """Statistics of a layer's targets from passes of the dense layer (see the module docstring).

    ``all_tokens``: experts module -> the experts whose statistics see every token; ``only``:
    collect for those experts alone (the fallback pass); ``root``: the layer (unfused experts
    replay their tokens from a hook on the module that holds them).
    """

    def __init__(self, lt: LayerTargets | dict[str, nn.Linear], hessian: bool, stop_early: bool,
                 hessian_fp32: bool = True, all_tokens: dict[str, set[int]] | None = None, only: bool = False,
                 root: nn.Module | None = None):
        if isinstance(lt, dict):  # bare linears (tests, dense callers)
            lt = LayerTargets(targets=[Target(n, m.weight.data, linear=m) for n, m in lt.items()], linears=lt)
        self.lt, self.hessian, self.stop_early, self.hessian_fp32 = lt, hessian, stop_early and not lt.moe, hessian_fp32
        self.linears = lt.linears
        self.all_tokens = all_tokens or {}
        self.only = only
        self.stats: dict[str, LinearStats] = {}
        self.owner: dict[str, str] = {}  # linear name -> name of the linear whose accumulator it shares
        self.order: list[str] = []
        self.first = True
        self.nseq = 0
        self.token_mask: torch.Tensor | None = None  # (B*L,) bool of the running batch, or None
        self.routed: dict[str, list[int]] = {}  # experts module -> tokens routed per expert
        self.all_counted = 0  # tokens the statistics count in all (the "all" experts' count)
        self._replay = False
        self._seen: dict[int, tuple[torch.Tensor, str]] = {}
        self._handles = [m.register_forward_pre_hook(self._hook(n)) for n, m in lt.linears.items()]
        self._unfused_of = {t.name: (t.experts, t.expert) for t in lt.targets
                            if t.linear is not None and t.experts is not None}
        for name, fx in lt.fused.items():
            self.routed[name] = [0] * fx.num_experts
            fx.module.forward = self._fused_forward(name, fx)  # instance attribute: undone by remove()
        for name, ml in lt.unfused.items():
            self.routed[name] = [0] * len(ml)
            for e, sub in enumerate(ml):
                self._handles.append(sub.register_forward_pre_hook(self._count_hook(name, e)))
            holder = _submodule(root, name.rsplit(".", 1)[0] if "." in name else "")
            if holder is not None:
                self._handles.append(holder.register_forward_pre_hook(self._replay_hook(name, ml), with_kwargs=True))

    # -- accumulation ------------------------------------------------------------------------------------
    def _add(self, key: str, x: torch.Tensor) -> None:
        self.stats.setdefault(key, LinearStats()).add(x, hessian=self.hessian, nseq=self.nseq,
                                                      hessian_fp32=self.hessian_fp32)

    def _wanted_linear(self, name: str) -> bool:
        ue = self._unfused_of.get(name)
        if ue is not None and ue[1] in self.all_tokens.get(ue[0], ()):
            return self._replay  # this expert's statistics come from the all-token replay
        return not self.only and not self._replay

    def _hook(self, name: str) -> Callable:
        def hook(_mod, args):
            x = args[0]
            if self._wanted_linear(name):
                hit = self._seen.get(id(x))
                if hit is not None and hit[0] is x:  # q/k/v or gate/up reading the same tensor
                    self.owner.setdefault(name, hit[1])
                else:
                    self.owner.setdefault(name, name)
                    xs = x.reshape(-1, x.shape[-1])
                    if self.token_mask is not None and not self._replay:
                        if xs.shape[0] != self.token_mask.numel():
                            raise PruneError(f"linear '{name}' reads {xs.shape[0]} rows, not the batch's "
                                             f"{self.token_mask.numel()} tokens, so a token mask cannot apply",
                                             hint="unfused experts see their routed tokens only: use mask 'none'")
                        xs = xs[self.token_mask]  # only the masked tokens enter the sums: (T_masked, in)
                    self._add(name, xs)
                    self._seen[id(x)] = (x, name)  # the strong ref keeps id(x) from being reused
            if self.first and not self._replay:
                self.order.append(name)
            elif self.stop_early and name == self.order[-1]:
                raise _StopForward

        return hook

    def _count_hook(self, experts: str, e: int) -> Callable:
        def hook(_mod, args):
            if not self._replay and not self.only:
                self.routed[experts][e] += int(args[0].reshape(-1, args[0].shape[-1]).shape[0])

        return hook

    def _replay_hook(self, experts: str, ml: nn.ModuleList) -> Callable:
        def hook(_mod, args, kwargs):
            chosen = sorted(self.all_tokens.get(experts, ()))
            if not chosen:
                return
            x = args[0] if args else next(iter(kwargs.values()))
            xs = x.reshape(-1, x.shape[-1])  # (T, H)
            if self.token_mask is not None:
                xs = xs[self.token_mask]
            self._replay = True
            try:
                for e in chosen:
                    ml[e](xs)
            finally:
                self._replay = False

        return hook

    def _fused_forward(self, name: str, fx) -> Callable:
        def forward(*args, **kwargs):
            hidden, idx, weights = fx.routing(args, kwargs)  # (T, H), (T, k), (T, k)
            keep = self.token_mask
            if keep is not None and keep.numel() != hidden.shape[0]:
                raise PruneError(f"experts '{name}' read {hidden.shape[0]} rows, not the batch's {keep.numel()} tokens")
            chosen = self.all_tokens.get(name, set())
            if not self.only:
                for e in range(fx.num_experts):
                    hit = (idx == e).any(-1)  # (T,)
                    self.routed[name][e] += int((hit if keep is None else hit & keep).sum())

            def tap(e: int, token_idx: torch.Tensor, kind: str, x: torch.Tensor) -> None:
                if (e in chosen) if self.only else True:
                    xs = x if keep is None else x[keep[token_idx]]
                    self._add(f"{name}.{e}.{kind}", xs)

            return fx.routed_forward(hidden, idx, weights, tap, chosen)

        return forward

    def run(self, layer: nn.Module, batch: Batch, idx: int) -> torch.Tensor | None:
        self.nseq = batch.hidden.shape[0]
        self.token_mask = None if batch.stat_mask is None else batch.stat_mask.reshape(-1)
        self.all_counted += int(batch.hidden.shape[0] * batch.hidden.shape[1] if self.token_mask is None
                                else self.token_mask.sum())
        try:
            return run_layer(layer, batch, idx)
        except _StopForward:
            return None
        finally:
            self.first = False
            self._seen.clear()

    def stats_for(self, target: Target | str) -> LinearStats:
        """The statistics a target (or a linear, by name) reads; empty when no token reached it."""
        if isinstance(target, str):
            return self.stats.get(self.owner.get(target, target), LinearStats())
        if target.stats_key is not None:
            return self.stats.get(target.stats_key, LinearStats())
        return self.stats.get(self.owner.get(target.name, target.name), LinearStats())

    def share_key(self, target: Target) -> str:
        """Targets with equal keys read one accumulator (one input): q/k/v, gate/up, an expert's gate/up."""
        return target.stats_key if target.stats_key is not None else self.owner.get(target.name, target.name)

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []
        for fx in self.lt.fused.values():
            fx.module.__dict__.pop("forward", None)


def _submodule(root: nn.Module | None, name: str) -> nn.Module | None:
    if root is None:
        return None
    try:
        return root.get_submodule(name) if name else root
    except AttributeError:
        return None


def _expert_counts(lt: LayerTargets) -> dict[str, int]:
    return {name: fx.num_experts for name, fx in lt.fused.items()} | {n: len(m) for n, m in lt.unfused.items()}


def no_stats(lt: LayerTargets) -> StatsCollector:
    """An empty collector for a method that reads no statistics (magnitude, round-to-nearest): its
    ``experts`` rows say so (no token counts, no fallback)."""
    col = StatsCollector(lt, hessian=False, stop_early=True)
    col.remove()
    col.experts = [ExpertTokens(name, e, None, None) for name, n in _expert_counts(lt).items() for e in range(n)]
    col.magnitude, col.outputs = set(), []
    return col


@torch.no_grad()
def collect_stats(layer: nn.Module, lt: LayerTargets, batches: list[Batch], idx: int, *, hessian: bool,
                  hessian_fp32: bool = True, moe_calibration: str = "routed", min_expert_tokens: int = 1,
                  expert_fallback: str = "all-tokens", stop_early: bool = True,
                  outputs: bool = False) -> StatsCollector:
    """One statistics pass of the dense ``layer`` over ``batches`` (see the module docstring).

    The collector's ``experts`` lists an :class:`ExpertTokens` per expert; ``outputs`` keeps each
    batch's output in ``col.outputs`` (OWL's dense pass feeds them to the next layer).
    """
    n_exp = _expert_counts(lt)
    every = {name: set(range(n)) for name, n in n_exp.items()} if moe_calibration == "all" else {}
    col = StatsCollector(lt, root=layer, hessian=hessian, stop_early=stop_early and not outputs, hessian_fp32=hessian_fp32,
                     all_tokens=every)
    col.outputs = []
    try:
        for b in batches:
            out = col.run(layer, b, idx)
            if outputs:
                col.outputs.append(out)
    finally:
        col.remove()
    col.experts = []
    low: dict[str, set[int]] = {}
    for name, n in n_exp.items():
        for e in range(n):
            routed = col.routed[name][e]
            seen = col.all_counted if moe_calibration == "all" else routed
            row = ExpertTokens(name, e, routed, seen)
            if seen < min_expert_tokens:
                row.fallback = expert_fallback
                low.setdefault(name, set()).add(e)
            col.experts.append(row)
    col.magnitude = set()  # (experts module, expert) pruned by magnitude / quantized by round-to-nearest
    if low and expert_fallback == "all-tokens":
        fb = StatsCollector(lt, root=layer, hessian=hessian, stop_early=False, hessian_fp32=hessian_fp32, all_tokens=low,
                        only=True)
        try:
            for b in batches:
                fb.run(layer, b, idx)
        finally:
            fb.remove()
        for t in lt.targets:
            if t.experts is not None and t.expert in low.get(t.experts, ()):
                col.stats[col.share_key(t)] = fb.stats_for(t)
        for row in col.experts:
            if row.fallback:
                row.stats_tokens = fb.all_counted
    elif low:
        col.magnitude = {(name, e) for name, es in low.items() for e in es}
    return col
