"""Which experts a set's tokens reach: router hooks, one forward pass, coverage statistics.

    from curate.moe.routing import routing_counts, coverage
    rc = routing_counts(model, input_ids, batch_size=8)   # RoutingCounts: per sample, layer, expert
    cov = coverage(rc.counts.sum(0), rc.tokens, min_tokens=8)
    cov["layers"][0]["entropy"], cov["experts_under_min"]

**Finding the routers.** Every MoE that transformers 5.x ships keeps a router module in each
sparse decoder layer, named ``gate`` (Mixtral, Qwen2-MoE, Qwen3-MoE, OLMoE, DeepSeek-V3, GLM-4-MoE)
or ``router`` (gpt-oss), returning ``(router_logits (T, E), top_k_weights (T, k), top_k_index
(T, k))`` over the flattened tokens T = B * L. The hook reads ``top_k_index``: the experts the
model really used, including DeepSeek-V3's group-limited, bias-corrected choice that no
re-computation from logits would reproduce. Older checkpoints and remote code keep the gate as
an ``nn.Linear(H, E)`` that returns the logits alone; there the top-k of the logits is taken
with the config's ``num_experts_per_tok`` (the softmax is monotonic, so the choice is the same).
``shared_expert_gate`` (Qwen2-MoE, a (1, H) sigmoid gate) is not a router. A model without any
router is refused with one line: coverage of a dense model means nothing.

**One pass, no logits.** Only the decoder stack runs (``model.model``), never the lm_head.
Padded positions (``attention_mask`` 0) are not counted.

**Statistics** (:func:`coverage`, pure): per layer, the tokens each expert received (a token
counts once for each of its k experts, so a layer's loads sum to k * tokens), the normalised
entropy H(p) / log E of the load distribution p (1 = perfectly even, 0 = one expert takes
all), the share of experts under ``min_tokens``, and max/min load (None when an expert got none).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from curate.errors import CurateError
from prune_backend.moe import ROUTERS  # the last component of a router module's name

# GPTQModel falls back to RTN for a module that fewer than 0.5 % of the calibration tokens reach.
DEFAULT_MIN_SHARE = 0.005


@dataclass(frozen=True)
class Router:
    """One router: which decoder layer it sits in, its module, E experts and k per token."""

    layer: int
    name: str  # qualified name inside the decoder layer, e.g. "mlp.gate"
    module: Any
    num_experts: int
    top_k: int


def _config_top_k(model) -> int | None:
    cfg = getattr(model, "config", None)
    cfg = getattr(cfg, "text_config", None) or cfg
    for key in ("num_experts_per_tok", "moe_topk", "top_k", "num_selected_experts"):
        v = getattr(cfg, key, None)
        if isinstance(v, int) and v > 0:
            return v
    return None


def find_routers(model) -> list[Router]:
    """Every router of ``model``'s decoder layers, in layer order; a CurateError on a dense model."""
    import torch

    from prune_backend.layers import decoder_layers

    try:
        layers = decoder_layers(model)
    except Exception as exc:  # noqa: BLE001 - PruneError or an odd wrapper: same one-line answer
        raise CurateError(f"cannot find the decoder layers of {type(model).__name__}",
                          hint="expert coverage needs a causal LM with model.layers") from exc
    cfg_k = _config_top_k(model)
    found = []
    for i, layer in enumerate(layers):
        for name, mod in layer.named_modules():
            if name.rsplit(".", 1)[-1] not in ROUTERS:
                continue
            e = getattr(mod, "num_experts", None)
            k = getattr(mod, "top_k", None) or cfg_k
            if e is None and isinstance(mod, torch.nn.Linear):
                e = mod.out_features  # an unfused gate: nn.Linear(H, E)
            if not isinstance(e, int) or e < 2 or not isinstance(k, int):
                continue  # a gated MLP's gate_proj is named differently; a (1, H) gate is not a router
            found.append(Router(i, name, mod, e, int(k)))
    if not found:
        raise CurateError(f"{type(model).__name__} has no expert routers: expert coverage needs a mixture-of-experts model",
                          hint="pass --model a MoE (Mixtral, Qwen2/3-MoE, OLMoE, DeepSeek-V3, gpt-oss) or the "
                               "derived one: python -m curate.moe.derive")
    return found


def top_k_index(output: Any, top_k: int):
    """The (T, k) expert indices a router's forward returned (see the module docstring)."""
    import torch

    if isinstance(output, tuple):
        for t in reversed(output):  # (logits, weights, index): the index is the integer tensor
            if isinstance(t, torch.Tensor) and not t.is_floating_point():
                return t
        output = output[0]
    if isinstance(output, torch.Tensor) and output.dim() == 2 and output.is_floating_point():
        return output.topk(top_k, dim=-1).indices  # an nn.Linear gate: logits (T, E)
    raise CurateError(f"cannot read the chosen experts from a router output of type {type(output).__name__}",
                      hint="a router must return top-k indices (transformers 5.x) or (T, E) logits")


@dataclass
class RoutingCounts:
    """Tokens per (sample, MoE layer, expert): ``counts`` int64 (N, R, E_max) and the routers."""

    counts: np.ndarray
    tokens: np.ndarray  # (N,) real tokens of each sample
    layers: list[int]  # decoder layer index of each of the R routers
    num_experts: list[int]
    top_k: list[int]


class RouterHooks:
    """Forward hooks on every router that count, per batch row, the tokens each expert gets.

        with RouterHooks(model) as rh:
            rh.expect(mask)                 # (B, L) bool: real tokens of the next forward
            model.model(input_ids=ids, attention_mask=mask.long())
            rh.counts                       # int64 ndarray (B, R, E_max) for that forward
    """

    def __init__(self, model):
        self.routers = find_routers(model)
        self.e_max = max(x.num_experts for x in self.routers)
        self._handles: list[Any] = []
        self.counts = np.zeros((0, len(self.routers), self.e_max), dtype=np.int64)
        self._mask = None

    def expect(self, mask) -> None:
        self._mask = mask
        self.counts = np.zeros((mask.shape[0], len(self.routers), self.e_max), dtype=np.int64)

    def _hook(self, j: int, router: Router):
        import torch

        def hook(_mod, _inp, out):
            idx = top_k_index(out, router.top_k)  # (B*L, k)
            b, L = self._mask.shape
            if idx.shape[0] != b * L:
                raise CurateError(f"router {router.name} of layer {router.layer} saw {idx.shape[0]} tokens, "
                                  f"expected {b * L}", hint="this router layout is not supported yet")
            keep = self._mask.reshape(-1).to(idx.device)  # (B*L,) real tokens
            row = torch.arange(b, device=idx.device).repeat_interleave(L)[keep]  # sample of each token
            flat = (row.unsqueeze(1) * self.e_max + idx[keep].long()).reshape(-1)  # (T_real * k,)
            self.counts[:, j] += torch.bincount(flat.cpu(), minlength=b * self.e_max).reshape(b, self.e_max).numpy()
        return hook

    def __enter__(self) -> RouterHooks:
        self._handles = [x.module.register_forward_hook(self._hook(j, x)) for j, x in enumerate(self.routers)]
        return self

    def __exit__(self, *exc) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []


def routing_counts(model, input_ids, attention_mask=None, *, batch_size: int = 8, progress: bool = False) -> RoutingCounts:
    """Run the decoder stack once over ``input_ids`` (N, L) (or a list of 1-D sequences, padded
    per batch) with a hook on every router, and count the tokens each expert receives."""
    import torch
    from tqdm.auto import tqdm

    if isinstance(input_ids, torch.Tensor):
        masks = attention_mask if attention_mask is not None else [None] * len(input_ids)
        seqs = [row[m.bool()] if m is not None else row for row, m in zip(input_ids.long().cpu(), masks, strict=True)]
    else:
        seqs = [torch.as_tensor(s, dtype=torch.long).flatten() for s in input_ids]
    hooks = RouterHooks(model)
    n = len(seqs)
    counts = np.zeros((n, len(hooks.routers), hooks.e_max), dtype=np.int64)
    tokens = np.array([len(s) for s in seqs], dtype=np.int64)
    base = getattr(model, getattr(model, "base_model_prefix", "model"), model)
    device = next(model.parameters()).device
    order = sorted(range(n), key=lambda i: -len(seqs[i]))  # longest first: little padding
    with hooks, torch.no_grad():
        for start in tqdm(range(0, n, batch_size), desc="expert routing", disable=not progress, leave=False):
            batch = order[start:start + batch_size]
            L = max(len(seqs[i]) for i in batch)
            ids = torch.zeros((len(batch), L), dtype=torch.long)
            mask = torch.zeros((len(batch), L), dtype=torch.bool)
            for row, i in enumerate(batch):
                ids[row, :len(seqs[i])] = seqs[i]
                mask[row, :len(seqs[i])] = True
            hooks.expect(mask)
            base(input_ids=ids.to(device), attention_mask=mask.long().to(device), use_cache=False)
            counts[batch] = hooks.counts
    r = hooks.routers
    return RoutingCounts(counts, tokens, [x.layer for x in r], [x.num_experts for x in r], [x.top_k for x in r])


# --------------------------------------------------------------------------------------------
# pure statistics
# --------------------------------------------------------------------------------------------


def normalized_entropy(load: Sequence[float]) -> float:
    """H(p) / log E of the load distribution p = load / sum(load); 1 = even; NaN without tokens."""
    x = np.asarray(load, dtype=np.float64)
    if x.size < 2 or x.sum() <= 0:
        return math.nan
    p = x / x.sum()
    nz = p[p > 0]
    return float(-(nz * np.log(nz)).sum() / math.log(x.size))


def default_min_tokens(total_tokens: int) -> int:
    """0.5 % of the set's tokens (GPTQModel's RTN fallback threshold), at least 1."""
    return max(1, math.ceil(DEFAULT_MIN_SHARE * total_tokens))


def layer_coverage(load: Sequence[int], min_tokens: int) -> dict[str, Any]:
    """Coverage of one layer from its (E,) tokens per expert."""
    x = np.asarray(load, dtype=np.int64)
    lo, hi = int(x.min()), int(x.max())
    return {"tokens_per_expert": x.tolist(), "entropy": round(normalized_entropy(x), 6),
            "experts_under_min": int((x < min_tokens).sum()), "share_under_min": round(float((x < min_tokens).mean()), 6),
            "min_load": lo, "max_load": hi, "max_over_min": (round(hi / lo, 4) if lo > 0 else None)}  # None: an expert got no token


def coverage(layer_loads: np.ndarray, total_tokens: int, *, min_tokens: int | None = None,
             layers: Sequence[int] | None = None, num_experts: Sequence[int] | None = None) -> dict[str, Any]:
    """Set-level coverage from (R, E_max) tokens per expert of each MoE layer (``num_experts``
    trims a layer with fewer experts than E_max). Summaries: mean and min normalised entropy over
    layers, experts under the minimum over all layers, the worst max/min load."""
    loads = np.asarray(layer_loads, dtype=np.int64)
    m = default_min_tokens(total_tokens) if min_tokens is None else int(min_tokens)
    per = []
    for j in range(loads.shape[0]):
        e = num_experts[j] if num_experts is not None else loads.shape[1]
        per.append({"layer": layers[j] if layers is not None else j, **layer_coverage(loads[j, :e], m)})
    ent = [p["entropy"] for p in per if not math.isnan(p["entropy"])]
    under = sum(p["experts_under_min"] for p in per)
    experts = sum(len(p["tokens_per_expert"]) for p in per)
    return {
        "tokens": int(total_tokens), "min_tokens": m, "moe_layers": len(per),
        "experts": experts,
        "entropy_mean": round(float(np.mean(ent)), 6) if ent else math.nan,
        "entropy_min": round(float(np.min(ent)), 6) if ent else math.nan,
        "experts_under_min": int(under), "share_under_min": round(under / max(experts, 1), 6),
        "experts_unreached": int(sum(sum(1 for c in p["tokens_per_expert"] if c == 0) for p in per)),
        "max_over_min_worst": (None if any(p["max_over_min"] is None for p in per)
                               else max((p["max_over_min"] for p in per), default=None)),
        "layers": per,
    }


def sample_entropy(counts: np.ndarray) -> np.ndarray:
    """(N, R, E) counts -> (N,) mean over layers of each sample's own normalised load entropy."""
    c = np.asarray(counts, dtype=np.float64)
    tot = c.sum(-1, keepdims=True)  # (N, R, 1)
    p = np.divide(c, tot, out=np.zeros_like(c), where=tot > 0)
    h = -(np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)).sum(-1) / math.log(c.shape[-1])  # (N, R)
    return h.mean(-1)
