"""Mixture-of-experts layouts: each expert's matrices as 2-D (out, in) views, and its forward.

    from prune_backend.moe import FusedExperts
    fx = FusedExperts.of(model.model.layers[0].mlp.experts)   # None for a module that is not fused experts
    fx.matrices(3)      # {'gate_proj': (I, H) view, 'up_proj': (I, H) view, 'down_proj': (H, I) view}
    fx.expert_forward(3, x, tap)   # expert 3 on tokens x (T, H), unweighted; tap(kind, input) before each matmul

Two layouts are understood:

* **fused** (transformers >= 5: Mixtral, Qwen2/3-MoE, OLMoE, DeepSeek-V3, gpt-oss and the ~60
  other models whose experts class carries ``@use_experts_implementation``): 3-D parameters
  ``gate_up_proj`` (E, 2I, H) (or ``up_proj`` (E, I, H) without a gate) and ``down_proj``
  (E, H, I). The decorator records the layout on the module, and this adapter reads exactly
  those flags: ``is_transposed`` (gpt-oss: (E, H, 2I) and (E, I, H), used as ``x @ W``),
  ``is_concatenated`` (gate rows then up rows; False = interleaved gate0, up0, gate1, ... as in
  gpt-oss), ``has_bias`` (``*_bias`` (E, out): kept dense, like every bias), ``has_gate``,
  ``has_post_expert_norm``. The gating itself is the module's own ``_apply_gate``. A module
  with 3-D expert parameters but without those flags is refused (its layout would be a guess).
* **unfused** (older checkpoints, remote code): an ``nn.ModuleList`` called ``experts`` whose
  members hold ``nn.Linear`` s (``experts.3.w1``, ``experts.3.gate_proj``, ...). Each linear is
  an ordinary linear for the driver; its forward pre-hook already sees only the tokens routed
  to its expert, because the MoE block calls an expert on its tokens only.

Routers and gates are never pruned: modules called ``gate`` (Mixtral, Qwen-MoE, DeepSeek-V3,
old Mixtral's ``nn.Linear(H, E)``), ``router`` (gpt-oss) or ``shared_expert_gate`` (Qwen2-MoE's
(1, H) gate), like lm_head.

**Supporting one more MoE layout** (a newcomer's checklist, also in docs/extending.md):

1. If its experts class is decorated with transformers' ``use_experts_implementation``, there
   is nothing to do: the flags above describe it. Add its tiny config to
   ``tests/tiny_moe.py`` (``ARCHS`` and ``_config``): the tests parametrized over ``ARCHS`` and
   ``benchmarks/moe_check.py`` pick it up.
2. If its router has another attribute name, add the name to :data:`ROUTERS`.
3. Otherwise (a fused layout with other parameter names, e.g. remote code), write a subclass of
   :class:`FusedExperts` that overrides :meth:`FusedExperts.of`, :meth:`matrices` and
   :meth:`expert_forward`, and add it to :data:`LAYOUTS`. The refusal in
   :func:`prune_backend.targets.layer_targets` names the parameter that needs it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from prune_backend.errors import PruneError

#: attribute names of the routers that choose experts (curate.moe.routing hooks these)
ROUTERS = frozenset({"gate", "router"})
#: attribute names of routers / gates: never pruned or quantized (the shared-expert gates route
#: nothing, they scale the shared expert's output, but are gates all the same)
ROUTER_NAMES = ROUTERS | {"shared_expert_gate", "shared_experts_gate"}

Tap = Callable[[str, torch.Tensor], None]  # (kind "gate_up" | "down", the matmul's input (T, in))


@dataclass
class FusedExperts:
    """The transformers >= 5 fused experts module ``module`` (see the module docstring)."""

    module: nn.Module
    up_name: str  # "gate_up_proj" or "up_proj"
    transposed: bool
    concatenated: bool
    has_gate: bool
    has_bias: bool
    post_norm: bool

    @classmethod
    def of(cls, module: nn.Module) -> FusedExperts | None:
        """The adapter of ``module``, or None when it holds no 3-D expert parameters."""
        down = module._parameters.get("down_proj")
        if down is None or down.dim() != 3:
            return None
        if not hasattr(module, "is_transposed") or not hasattr(module, "_apply_gate"):
            raise PruneError(
                f"{type(module).__name__} holds 3-D expert weights without transformers' experts-layout flags",
                hint="decorate it with transformers.integrations.moe.use_experts_implementation, or add a layout to "
                     "prune_backend.moe.LAYOUTS (see its module docstring)")
        has_gate = bool(getattr(module, "has_gate", True))
        up_name = "gate_up_proj" if has_gate else "up_proj"
        up = module._parameters.get(up_name)
        if up is None or up.dim() != 3:
            raise PruneError(f"{type(module).__name__} has a 3-D down_proj but no 3-D {up_name}",
                             hint="add a layout to prune_backend.moe.LAYOUTS")
        return cls(module, up_name, bool(module.is_transposed), bool(getattr(module, "is_concatenated", True)),
                   has_gate, bool(getattr(module, "has_bias", False)),
                   bool(getattr(module, "has_post_expert_norm", False)))

    @property
    def num_experts(self) -> int:
        return int(self.module._parameters["down_proj"].shape[0])

    def param_roles(self) -> dict[str, str]:
        """Parameter name -> "expert" (pruned, per expert) or "bias" (kept dense)."""
        roles = {self.up_name: "expert", "down_proj": "expert"}
        if self.has_bias:
            roles.update({f"{self.up_name}_bias": "bias", "down_proj_bias": "bias"})
        return roles

    def _mat(self, name: str, e: int) -> torch.Tensor:
        w = self.module._parameters[name].data[e]  # (out, in), or (in, out) when transposed
        return w.t() if self.transposed else w

    def matrices(self, e: int) -> dict[str, torch.Tensor]:
        """Expert ``e``'s matrices as (out, in) views into the 3-D parameters (writes go through)."""
        up = self._mat(self.up_name, e)  # (2I, H) with a gate, else (I, H)
        out: dict[str, torch.Tensor] = {}
        if self.has_gate:
            inter = up.shape[0] // 2
            if self.concatenated:
                out["gate_proj"], out["up_proj"] = up[:inter], up[inter:]
            else:  # interleaved rows gate0, up0, gate1, up1, ... (gpt-oss's gate_up[..., ::2], [..., 1::2])
                out["gate_proj"], out["up_proj"] = up[0::2], up[1::2]
        else:
            out["up_proj"] = up
        out["down_proj"] = self._mat("down_proj", e)  # (H, I)
        return out

    @staticmethod
    def stats_kind(matrix: str) -> str:
        """Which input a matrix reads: gate/up read the expert's tokens, down the gated activations."""
        return "down" if matrix == "down_proj" else "gate_up"

    def _linear(self, name: str, e: int, x: torch.Tensor) -> torch.Tensor:
        w = self.module._parameters[name][e]
        y = x @ w if self.transposed else nn.functional.linear(x, w)
        if self.has_bias:
            y = y + self.module._parameters[f"{name}_bias"][e]
        return y

    def expert_forward(self, e: int, x: torch.Tensor, tap: Tap | None = None) -> torch.Tensor:
        """Expert ``e`` on tokens ``x`` (T, H) -> (T, H), before the routing weight; as the module's eager
        forward computes it. ``tap(kind, input)`` sees each matmul's input first."""
        if tap is not None:
            tap("gate_up", x)
        h = self._linear(self.up_name, e, x)  # (T, 2I) or (T, I)
        h = self.module._apply_gate(h) if self.has_gate else self.module.act_fn(h)  # (T, I)
        if tap is not None:
            tap("down", h)
        y = self._linear("down_proj", e, h)  # (T, H)
        if self.post_norm:
            y = self.module.post_expert_norm(y)
        return y

    def routing(self, args: tuple, kwargs: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(hidden (T, H), top-k expert ids (T, k), top-k weights (T, k)) of a call of the module."""
        names = list(inspect.signature(type(self.module).forward).parameters)[1:4]
        vals = list(args[:3]) + [kwargs[n] for n in names[len(args):3]]
        return vals[0], vals[1], vals[2]

    def routed_forward(self, hidden: torch.Tensor, top_k_index: torch.Tensor, top_k_weights: torch.Tensor,
                       tap: Callable[[int, torch.Tensor, str, torch.Tensor], None], all_tokens: set[int]) -> torch.Tensor:
        """The module's output (T, H), computed expert by expert as its eager forward does, with
        ``tap(e, token_idx, kind, input)`` seeing every matmul input. Experts in ``all_tokens`` run
        on every token (their statistics see all of them); their output still takes the routed rows."""
        out = torch.zeros_like(hidden)
        everyone = torch.arange(hidden.shape[0], device=hidden.device)
        for e in range(self.num_experts):
            # (T, k) -> positions as the eager forward orders them: by top-k slot, then token.
            top_k_pos, token_idx = torch.where((top_k_index == e).t())
            if e in all_tokens:
                y = self.expert_forward(e, hidden, lambda kind, x, e=e: tap(e, everyone, kind, x))[token_idx]
            elif token_idx.numel():
                y = self.expert_forward(e, hidden[token_idx], lambda kind, x, e=e, t=token_idx: tap(e, t, kind, x))
            else:
                continue
            y = y * top_k_weights[token_idx, top_k_pos, None]
            out.index_add_(0, token_idx, y.to(out.dtype))
        return out


#: fused layouts, tried in order (a newcomer's layout goes first)
LAYOUTS: list[type[FusedExperts]] = [FusedExperts]


def fused_experts(module: nn.Module) -> FusedExperts | None:
    for layout in LAYOUTS:
        fx = layout.of(module)
        if fx is not None:
            return fx
    return None


def unfused_expert(name: str) -> tuple[str, int] | None:
    """``mlp.experts.3.w1`` -> ("mlp.experts", 3): a linear inside an ``experts`` ModuleList, else None."""
    parts = name.split(".")
    for k in range(len(parts) - 1):
        if parts[k] == "experts" and parts[k + 1].isdigit():
            return ".".join(parts[:k + 1]), int(parts[k + 1])
    return None
