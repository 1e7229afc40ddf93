"""Name -> ``"module:attr"`` registries with lazy imports, and registries whose entries own a spec.

    from curate.steps import STEPS
    STEPS.register("my_filter", "my_pkg.my_filter:MyFilter", spec="my_pkg.my_filter:MyFilterSpec")
    STEPS.entry("my_filter").spec      # the pydantic model of its recipe block
    STEPS.union()                      # every registered spec, discriminated by ``type``

Heavy modules (torch, vllm, datatrove, lm-eval) are imported only when a name is chosen, so
``curate --help`` stays instant. Unknown names fail with "did you mean ...". Third-party code
can add entries through the entry-point group given to the registry.

A :class:`SpecRegistry` pairs each implementation with the strict pydantic :class:`Spec` of
its recipe block; the recipe's discriminated unions are built from it, so a new step, source
type or sampler is one file plus one registration line and no list elsewhere names it.
"""

from __future__ import annotations

import difflib
import importlib
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler, create_model

from curate.errors import CurateError


class Spec(BaseModel):
    """Base of every recipe block: unknown keys are errors (a typo never passes silently)."""

    model_config = ConfigDict(extra="forbid", frozen=False, allow_inf_nan=False)  # a NaN or inf knob is an error


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """``did you mean 'x'?`` for the closest known name, else the list of known names."""
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=1)
    return f"did you mean '{close[0]}'?" if close else f"known: {', '.join(known)}"


def _resolve(target: str | Any) -> Any:
    if not isinstance(target, str):
        return target
    module, _, attr = target.partition(":")
    obj = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


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
            self._changed()
            return obj

        if target is None:
            return _add
        return _add(target)

    def unregister(self, name: str) -> None:
        """Remove ``name`` (a plug-in registered in-process, e.g. by a test)."""
        self._targets.pop(name, None)
        self._changed()

    def _changed(self) -> None:
        """Hook for registries that derive something from their entries."""

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded or not self.entry_point_group:
            return
        self._entry_points_loaded = True
        from importlib.metadata import entry_points

        for ep in entry_points(group=self.entry_point_group):
            self._targets.setdefault(ep.name, ep.value)

    def names(self, *, sort: bool = True) -> list[str]:
        """Registered names, sorted (or in registration order, entry points last)."""
        self._load_entry_points()
        return sorted(self._targets) if sort else list(self._targets)

    def __contains__(self, name: str) -> bool:
        self._load_entry_points()
        return name in self._targets

    def unknown(self, name: str) -> CurateError:
        return CurateError(f"unknown {self.kind} '{name}'", hint=did_you_mean(name, self.names()))

    def check_name(self, name: str) -> str:
        """For pydantic field validators: ``name`` if registered, else a ValueError with did-you-mean."""
        if name not in self:
            raise ValueError(f"unknown {self.kind} '{name}'; {did_you_mean(name, self.names())}")
        return name

    def get(self, name: str) -> Any:
        self._load_entry_points()
        if name not in self._targets:
            raise self.unknown(name)
        obj = _resolve(self._targets[name])
        self._targets[name] = obj
        return obj


@dataclass(frozen=True)
class Entry:
    """One registered implementation and the spec of its recipe block."""

    name: str
    impl: Any
    spec: type[Spec]


class SpecRegistry(Registry):
    """A registry whose entries own their spec: ``register(name, impl, spec=...)``.

    ``spec`` defaults to the implementation's ``Spec`` attribute (how an entry-point plug-in,
    which names one object, brings its spec); ``default_spec`` (if given) makes a spec with only
    the tag for implementations that take no parameters. Every spec must declare
    ``<tag>: Literal["<name>"]``; :meth:`union` is the discriminated union of all of them.
    Listeners run after every change, so models built on the union can rebuild.
    """

    def __init__(self, kind: str, entry_point_group: str | None = None, *, tag: str = "type",
                 default_spec: type[Spec] | None = None):
        super().__init__(kind, entry_point_group)
        self.tag = tag
        self.default_spec = default_spec
        self._specs: dict[str, str | type[Spec] | None] = {}
        self._listeners: list[Callable[[], None]] = []

    def register(self, name: str, target: str | Any | None = None, *, spec: str | type[Spec] | None = None):
        self._specs[name] = spec
        return super().register(name, target)

    def unregister(self, name: str) -> None:
        self._specs.pop(name, None)
        super().unregister(name)

    def on_change(self, fn: Callable[[], None]) -> None:
        self._listeners.append(fn)

    def _changed(self) -> None:
        for fn in self._listeners:
            fn()

    def entry(self, name: str) -> Entry:
        impl = self.get(name)
        spec = _resolve(self._specs.get(name)) or getattr(impl, "Spec", None)
        if spec is None and self.default_spec is not None:
            spec = create_model(f"{name}_spec", __base__=self.default_spec,
                                **{self.tag: (Literal[name], ...)})  # type: ignore[call-overload]
        if not (isinstance(spec, type) and issubclass(spec, BaseModel)):
            raise CurateError(f"{self.kind} '{name}' has no spec",
                              hint="register it with spec=<pydantic model> or give it a 'Spec' attribute")
        field = spec.model_fields.get(self.tag)
        if field is None or typing.get_args(field.annotation) != (name,):
            raise CurateError(f"{self.kind} '{name}': {spec.__name__} must declare "
                              f"{self.tag}: Literal['{name}']")
        checked = typing.cast("type[Spec]", spec)  # a BaseModel subclass declaring the tag, checked above
        self._specs[name] = checked
        return Entry(name, impl, checked)

    def spec(self, name: str) -> type[Spec]:
        return self.entry(name).spec

    def union(self) -> Any:
        """``Annotated[A | B | ..., Field(discriminator=tag)]`` over every registered spec."""
        specs = tuple(self.spec(n) for n in self.names())
        if len(specs) == 1:
            return specs[0]
        return Annotated[typing.Union[specs], Field(discriminator=self.tag)]  # noqa: UP007

    def field_type(self) -> type:
        """A type for pydantic fields that stands for :meth:`union` as it is when the model's
        schema is built (a model rebuilt after a registration sees the new entry)."""
        registry = self

        class Registered:
            @classmethod
            def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> Any:
                return handler.generate_schema(registry.union())

        Registered.__name__ = Registered.__qualname__ = f"Any{registry.kind.title().replace(' ', '')}Spec"
        return Registered
