"""User-facing errors: one line, names the field or file, says how to fix it.

The CLI catches :class:`CurateError` (and prune_backend's ``PruneError``, its base) and prints ``error: <message>`` with exit code 2 and no
traceback; everything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from prune_backend.errors import PruneError


class CurateError(PruneError):
    """An error caused by the user's input (recipe, file, model id, flag).

    prune_backend, the lower package, owns the base type (message, hint, ``one_line``, exit
    code 2); catching :class:`~prune_backend.errors.PruneError` catches both.
    """


class RecipeError(CurateError):
    """A recipe failed validation: names the file and the field."""


class SourceError(CurateError):
    """A source is missing, empty or unreadable."""


class ModelError(CurateError):
    """A model could not be resolved or loaded."""


class MissingDependencyError(CurateError):
    """An optional dependency is not installed; the message carries the install command."""

    def __init__(self, package: str, extra: str | None = None, what: str | None = None,
                 command: str | None = None):
        from curate import DISTRIBUTION

        cmd = command or (f"pip install '{DISTRIBUTION}[{extra}]'" if extra else f"pip install {package}")
        what = what or package
        super().__init__(f"{what} needs the optional package '{package}'", hint=f"install it with: {cmd}")


def requires(module: str, *, extra: str | None = None, what: str | None = None, command: str | None = None):
    """Import ``module`` or raise :class:`MissingDependencyError` with the install command."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - exercised via tests that fake the import
        raise MissingDependencyError(module.split(".")[0], extra=extra, what=what, command=command) from exc
