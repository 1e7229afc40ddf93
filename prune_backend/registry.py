"""Pruning methods by name, imported only when chosen.

    from prune_backend import METHODS
    METHODS.names()            # ['llmcompressor-sparsegpt', 'llmcompressor-wanda', 'magnitude', 'sparsegpt', 'wanda']
    Wanda = METHODS.get("wanda")

A third-party package adds a method through the entry-point group ``prune_backend.methods``
(``name = "module:Class"``); the class follows :class:`prune_backend.methods.base.PruningMethod`.
An unknown name is a :class:`~prune_backend.errors.PruneError` with a did-you-mean.
"""

from __future__ import annotations

import difflib
import importlib
from typing import Any

from prune_backend.errors import PruneError


class MethodRegistry:
    """``name -> "module:Class"``; the module is imported on the first :meth:`get` of the name."""

    def __init__(self, entry_point_group: str):
        self.entry_point_group = entry_point_group
        self._targets: dict[str, str | Any] = {}
        self._entry_points_loaded = False

    def register(self, name: str, target: str | Any) -> None:
        self._targets[name] = target

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        from importlib.metadata import entry_points

        for ep in entry_points(group=self.entry_point_group):
            self._targets.setdefault(ep.name, ep.value)

    def names(self) -> list[str]:
        self._load_entry_points()
        return sorted(self._targets)

    def __contains__(self, name: object) -> bool:
        self._load_entry_points()
        return name in self._targets

    def check(self, name: str) -> None:
        """Raise ``unknown pruning method ... (did you mean ...)`` without importing anything."""
        if name not in self:
            close = difflib.get_close_matches(name, self._targets, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"known: {', '.join(self.names())}"
            raise PruneError(f"unknown pruning method '{name}'", hint=hint)

    def get(self, name: str) -> Any:
        self.check(name)
        target = self._targets[name]
        if isinstance(target, str):
            module, _, attr = target.partition(":")
            obj: Any = importlib.import_module(module)
            for part in attr.split("."):
                obj = getattr(obj, part)
            self._targets[name] = target = obj
        return target


METHODS = MethodRegistry("prune_backend.methods")
METHODS.register("magnitude", "prune_backend.methods.magnitude:Magnitude")
METHODS.register("wanda", "prune_backend.methods.wanda:Wanda")
METHODS.register("sparsegpt", "prune_backend.methods.sparsegpt:SparseGPT")
METHODS.register("llmcompressor-wanda", "prune_backend.llmcompressor_adapter:LLMCompressorWanda")
METHODS.register("llmcompressor-sparsegpt", "prune_backend.llmcompressor_adapter:LLMCompressorSparseGPT")
