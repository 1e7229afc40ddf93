"""Name -> ``"module:attr"`` registries with lazy imports.

Heavy modules (torch, vllm, datatrove, lm-eval) are imported only when a name is chosen, so
``curate --help`` stays instant. Unknown names fail with "did you mean ...". Third-party code
can add entries through the entry-point group given to the registry.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Iterator
from typing import Any

from curate.errors import CurateError


class Registry:
    def __init__(self, kind: str, entry_point_group: str | None = None):
        self.kind = kind
        self.entry_point_group = entry_point_group
        self._targets: dict[str, str | Any] = {}
        self._entry_points_loaded = False

    def register(self, name: str, target: str | Any | None = None):
        """Register ``target`` ("module:attr" or an object) under ``name``; usable as a decorator."""

        def _add(obj):
            self._targets[name] = obj
            return obj

        if target is None:
            return _add
        return _add(target)

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded or not self.entry_point_group:
            return
        self._entry_points_loaded = True
        from importlib.metadata import entry_points

        for ep in entry_points(group=self.entry_point_group):
            self._targets.setdefault(ep.name, ep.value)

    def names(self) -> list[str]:
        self._load_entry_points()
        return sorted(self._targets)

    def __contains__(self, name: str) -> bool:
        self._load_entry_points()
        return name in self._targets

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def get(self, name: str) -> Any:
        self._load_entry_points()
        if name not in self._targets:
            close = difflib.get_close_matches(name, self._targets, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"known: {', '.join(self.names())}"
            raise CurateError(f"unknown {self.kind} '{name}'", hint=hint)
        target = self._targets[name]
        if isinstance(target, str):
            module, _, attr = target.partition(":")
            obj = importlib.import_module(module)
            for part in attr.split("."):
                obj = getattr(obj, part)
            self._targets[name] = obj
            target = obj
        return target
