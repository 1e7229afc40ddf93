"""The error prune_backend raises for bad input: one line that names the field and the fix.

    from prune_backend.errors import PruneError
    try:
        PruneConfig(method="wandda")
    except PruneError as exc:
        print(exc.one_line())   # unknown pruning method 'wandda' (did you mean 'wanda'?)

prune_backend is the lower package, so it owns the type: curate's ``CurateError`` subclasses
it, and a command line that catches :class:`PruneError` prints both as ``error: ...`` with exit
code 2. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import importlib
from types import ModuleType


class PruneError(Exception):
    """An error caused by the caller's input (config field, model, calibration tokens)."""

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None):
        self.message = message.rstrip(".")
        self.hint = hint
        super().__init__(self.one_line())

    def one_line(self) -> str:
        text = self.message
        if self.hint:
            text += f" ({self.hint})"
        return " ".join(text.split())


def requires(module: str, *, install: str, what: str) -> ModuleType:
    """Import the optional ``module`` or raise a :class:`PruneError` carrying the ``install`` command."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise PruneError(f"{what} needs the optional package '{module.split('.')[0]}'",
                         hint=f"install it with: {install}") from exc
