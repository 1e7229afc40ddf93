"""Registries: lazy targets, did-you-mean, entries that own their spec, entry-point plug-ins."""

from importlib.metadata import EntryPoint
from typing import Literal

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from curate.errors import CurateError
from curate.registry import Registry, Spec, SpecRegistry


class ASpec(Spec):
    type: Literal["a"]
    x: int = 0


class BSpec(Spec):
    type: Literal["b"]


class WithSpec:
    """A plug-in object that brings its spec as an attribute (what an entry point names)."""

    class Spec(Spec):
        type: Literal["plug"]
        y: str


class NoSpec:
    pass


def test_registry_resolves_lazily_and_suggests():
    r = Registry("thing")
    r.register("json_dumps", "json:dumps")
    assert r._targets["json_dumps"] == "json:dumps"  # nothing imported until asked for
    assert r.get("json_dumps")([1]) == "[1]"
    with pytest.raises(CurateError, match="unknown thing 'json_dump' .did you mean 'json_dumps'"):
        r.get("json_dump")
    with pytest.raises(ValueError, match="unknown thing 'jsn_dumps'; did you mean 'json_dumps'"):
        r.check_name("jsn_dumps")
    r.unregister("json_dumps")
    assert "json_dumps" not in r


def test_union_follows_registrations():
    r = SpecRegistry("kind")
    r.register("a", object(), spec=ASpec)
    r.register("b", object(), spec=f"{__name__}:BSpec")  # specs resolve lazily too

    class M(BaseModel):
        items: list[r.field_type()]

    m = M.model_validate({"items": [{"type": "b"}, {"type": "a", "x": 2}]})
    assert [type(i) for i in m.items] == [BSpec, ASpec] and m.items[1].x == 2
    assert m.model_dump() == {"items": [{"type": "b"}, {"type": "a", "x": 2}]}
    with pytest.raises(ValidationError, match="union_tag_invalid"):
        M.model_validate({"items": [{"type": "plug", "y": "z"}]})
    r.register("plug", WithSpec)  # the spec comes from the object's Spec attribute
    M.model_rebuild(force=True)
    assert M.model_validate({"items": [{"type": "plug", "y": "z"}]}).items[0].y == "z"
    with pytest.raises(ValidationError, match="extra_forbidden"):
        TypeAdapter(r.union()).validate_python({"type": "a", "z": 1})


def test_spec_must_carry_its_name():
    r = SpecRegistry("kind")
    r.register("c", object(), spec=ASpec)
    with pytest.raises(CurateError, match=r"kind 'c': ASpec must declare type: Literal\['c'\]"):
        r.spec("c")
    r.register("n", NoSpec)
    with pytest.raises(CurateError, match="kind 'n' has no spec"):
        r.spec("n")
    d = SpecRegistry("kind", default_spec=Spec)  # a parameterless plug-in gets a type-only spec
    d.register("n", NoSpec)
    assert d.spec("n").model_validate({"type": "n"}).type == "n"
    with pytest.raises(ValidationError):
        d.spec("n").model_validate({"type": "n", "x": 1})


def test_entry_point_plugin_with_its_spec(monkeypatch):
    eps = [EntryPoint(name="plug", value=f"{__name__}:WithSpec", group="curate.test_plugins")]
    monkeypatch.setattr("importlib.metadata.entry_points",
                        lambda group=None: [e for e in eps if e.group == group])
    r = SpecRegistry("kind", entry_point_group="curate.test_plugins")
    r.register("a", object(), spec=ASpec)
    assert r.names() == ["a", "plug"]
    e = r.entry("plug")
    assert e.impl is WithSpec and e.spec is WithSpec.Spec
    assert TypeAdapter(r.union()).validate_python({"type": "plug", "y": "q"}).y == "q"


def test_bundled_steps_sources_and_samplers_are_registered_with_their_specs():
    from curate.sampling import SAMPLERS, Sampler
    from curate.sources import SOURCE_TYPES, SourceSpec
    from curate.steps import STEPS, StepSpec

    assert STEPS.names() == sorted(["sample", "generate", "length_filter", "quality_filter", "perplexity_filter",
                                    "dedup", "score", "select", "igsp", "cola", "zipcal", "chat", "expert_balanced",
                                    "ebss"])
    for name in STEPS.names():
        spec = STEPS.spec(name)
        assert issubclass(spec, StepSpec) and spec.__name__.endswith("Spec")
        assert spec.__name__ != getattr(STEPS.get(name), "__name__", "")  # spec named apart from the step
    assert all(issubclass(SOURCE_TYPES.spec(n), SourceSpec) for n in SOURCE_TYPES.names())
    assert SAMPLERS.names() == ["packing", "random_windows"]
    assert all(issubclass(SAMPLERS.get(n), Sampler) for n in SAMPLERS.names())
