"""Recipes: strict, declarative YAML validated on load.

    from curate.recipe import load_recipe
    recipe = load_recipe("recipes/default.yaml", overrides=["n_samples=16"])

A recipe names a model, the set's shape (``n_samples`` x ``seq_len``), one or more
*components* (a source and the steps that turn its documents into samples) mixed in exact
proportions, and optional set-level steps (e.g. IGSP selection) over the union. Unknown keys are
errors naming the file and the field; choices are literals. ``recipe_hash`` is a canonical hash
of the validated recipe; it goes into the manifest, the version and the card.

The blocks of ``source:`` and ``steps:`` are the specs registered in
:data:`curate.sources.SOURCE_TYPES` and :data:`curate.steps.STEPS` (discriminated by ``type``);
this module names none of them, so a new step or source type needs no edit here.

Example::

    name: wiki-selfgen
    seed: 0
    seq_len: 128
    n_samples: 32
    model: {name: smollm2-135m}
    components:
      - source: {type: bundled, name: wikipedia}
        steps:
          - {type: generate, prefix_tokens: [1, 4], temperature: 0.8, top_p: 0.95, top_k: 50,
             repetition_penalty: 1.2, oversample: 1.25}
          - {type: perplexity_filter, drop_top: 0.2}
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import ConfigDict, Field, ValidationError, model_validator

from curate.errors import RecipeError
from curate.registry import Spec, did_you_mean
from curate.resources import recipes_dir  # noqa: F401 - re-exported: where the bundled recipes are
from curate.sources import SOURCE_TYPES
from curate.steps import STEPS
from curate.steps.select import apportion
from prune_backend.config import Device

# Fields typed by the registries: the union of every registered spec, discriminated by ``type``.
# The type checker sees their common base (what code may rely on); pydantic sees the union.
if TYPE_CHECKING:
    from curate.sources.base import SourceSpec as SourceBlock
    from curate.steps.base import StepSpec as StepBlock
else:
    SourceBlock = SOURCE_TYPES.field_type()
    StepBlock = STEPS.field_type()


class ComponentSpec(Spec):
    model_config = ConfigDict(extra="forbid", defer_build=True)
    name: str | None = None
    source: SourceBlock
    weight: float | None = Field(default=None, gt=0)
    count: int | None = Field(default=None, gt=0)
    steps: list[StepBlock] = Field(default_factory=lambda: [{"type": "sample"}], validate_default=True)

    @model_validator(mode="after")
    def _check(self):
        if self.weight is not None and self.count is not None:
            raise ValueError("give a component either 'weight' or 'count', not both")
        producers = [i for i, s in enumerate(self.steps) if s.stage == "producer"]
        if len(producers) != 1:
            names = "' or '".join(n for n in STEPS.names() if STEPS.spec(n).stage == "producer")
            raise ValueError(f"each component needs exactly one '{names}' step")
        i = producers[0]
        for s in self.steps[:i]:
            if s.stage != "document":
                raise ValueError(f"step '{s.type}' must come after the '{self.steps[i].type}' step")
        for s in self.steps[i + 1:]:
            if s.stage == "document":
                raise ValueError(f"document filter '{s.type}' must come before the '{self.steps[i].type}' step")
        return self

    @property
    def self_generated(self) -> bool:
        return any(s.self_generated for s in self.steps)

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        return f"self-gen:{self.base_name}" if self.self_generated else self.base_name

    @property
    def base_name(self) -> str:
        """Name of the source: its ``name``, else e.g. the Hub path's last part or the first file's stem."""
        return self.source.label()


class ModelSpec(Spec):
    name: str = "smollm2-135m"
    revision: str | None = None
    dtype: Literal["float32", "bfloat16", "float16", "auto"] = "float32"
    device: Device = None  # checked on load: a bad string or a missing CUDA fails before any work
    batch_size: int = Field(default=8, gt=0)
    trust_remote_code: bool = False
    allow_pickle: bool = False


class StrategySpec(Spec):
    name: str
    paper: str | None = None
    url: str | None = None
    bibtex: str | None = None
    notes: str | None = None


class Recipe(Spec):
    model_config = ConfigDict(extra="forbid", defer_build=True)
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    description: str = ""
    seed: int = 0
    seq_len: int = Field(gt=1, le=131072)
    n_samples: int = Field(gt=0)
    # Components together produce ``pool_size`` samples (default n_samples); set-level steps
    # such as IGSP then select ``n_samples`` of them.
    pool_size: int | None = Field(default=None, gt=0)
    model: ModelSpec = Field(default_factory=ModelSpec)
    strategy: StrategySpec | None = None
    components: list[ComponentSpec] = Field(min_length=1)
    steps: list[StepBlock] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self):
        pool = self.pool_size or self.n_samples
        if pool < self.n_samples:
            raise ValueError("pool_size must be >= n_samples")
        counts = [c.count for c in self.components if c.count is not None]
        if counts and len(counts) != len(self.components):
            raise ValueError("give 'count' to every component or to none (use weights)")
        weights = [c.weight for c in self.components if c.weight is not None]
        if not math.isfinite(sum(weights)):  # each is finite; their sum must be too
            raise ValueError(f"component weights sum to {sum(weights)}; use weights of a usual size, e.g. 1 and 3")
        if counts and sum(counts) != pool:
            raise ValueError(f"component counts sum to {sum(counts)}, expected {pool} (pool_size or n_samples)")
        for s in self.steps:
            if s.stage != "sample":
                raise ValueError(f"step '{s.type}' belongs inside a component, not in set-level 'steps'")
        labels = [c.label for c in self.components]
        if len(set(labels)) != len(labels):
            raise ValueError(f"component names must be unique (got {labels}); set 'name' on each")
        if pool > self.n_samples and not any(s.selects for s in self.steps):
            names = "' or '".join(n for n in STEPS.names() if STEPS.spec(n).selects)
            raise ValueError(f"pool_size > n_samples needs a set-level '{names}' step")
        return self

    def component_counts(self) -> list[int]:
        """Exact per-component counts by largest-remainder apportionment of the pool."""
        pool = self.pool_size or self.n_samples
        if all(c.count is not None for c in self.components):
            return [int(c.count) for c in self.components]  # type: ignore[arg-type]
        weights = [c.weight if c.weight is not None else 1.0 for c in self.components]
        return apportion(pool, weights)

    def canonical(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=False)

    @property
    def recipe_hash(self) -> str:
        blob = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- loading
def _set_path(data: dict, dotted: str, value: Any, where: str) -> None:
    parts = dotted.split(".")
    cur: Any = data
    for i, part in enumerate(parts[:-1]):
        key: Any = int(part) if isinstance(cur, list) and part.isdigit() else part
        try:
            nxt = cur[key]
        except (KeyError, IndexError, TypeError):
            if isinstance(cur, dict):
                cur[key] = nxt = {}
            else:
                raise RecipeError(f"{where}: --set {dotted}: '{'.'.join(parts[:i + 1])}' does not exist") from None
        cur = nxt
    last: Any = int(parts[-1]) if isinstance(cur, list) and parts[-1].isdigit() else parts[-1]
    try:
        cur[last] = value
    except (IndexError, TypeError):
        raise RecipeError(f"{where}: --set {dotted}: cannot set '{parts[-1]}'") from None


def apply_overrides(data: dict, overrides: list[str] | None, where: str = "recipe") -> dict:
    for item in overrides or []:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise RecipeError(f"--set '{item}' is not key=value", hint="e.g. --set n_samples=16")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError as exc:  # a broken value, or a tag such as !!python/object
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise RecipeError(f"--set '{item}': the value is not plain YAML ({first[:120]})",
                              hint="quote it, e.g. --set name='\"a: b\"'; tags such as !!python are never read") from None
        _set_path(data, key.strip(), value, where)
    return data


def _field_path(loc: tuple) -> str:
    """Dotted path of an error; the union member tag pydantic inserts after a list index or
    ``source`` (``steps.0.generate.top_k``) is dropped: the user wrote ``steps.0.top_k``."""
    tags = set(STEPS.names()) | set(SOURCE_TYPES.names())
    parts = [x for i, x in enumerate(loc)
             if not (i and isinstance(x, str) and x in tags and (isinstance(loc[i - 1], int) or loc[i - 1] == "source"))]
    return ".".join(str(x) for x in parts)


def _format_error(exc: ValidationError, where: str) -> str:
    err = exc.errors()[0]
    loc = _field_path(err["loc"])
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = "unknown field"
    elif err["type"] == "literal_error":
        msg = f"invalid value {err.get('input')!r}; {msg.lower()}"
    elif err["type"] in ("union_tag_invalid", "union_tag_not_found"):
        registry = SOURCE_TYPES if loc.endswith("source") else STEPS
        loc = f"{loc}.type" if loc else "type"
        tag = (err.get("ctx") or {}).get("tag")
        msg = (f"unknown {registry.kind} '{tag}'; {did_you_mean(str(tag), registry.names())}" if tag is not None
               else f"missing; give one of: {', '.join(registry.names())}")
    elif err["type"] == "value_error":
        msg = msg.removeprefix("Value error, ")
    more = f" (+{len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return f"{where}: field '{loc or '<root>'}': {msg}{more}"


def _rebuild() -> None:
    """A step or source type registered after import (a plug-in, a test): rebuild the models
    whose fields are the registries' unions so that recipes may name it."""
    ComponentSpec.model_rebuild(force=True)
    Recipe.model_rebuild(force=True)


STEPS.on_change(_rebuild)
SOURCE_TYPES.on_change(_rebuild)


def parse_recipe(data: Any, where: str = "recipe", overrides: list[str] | None = None) -> Recipe:
    if not isinstance(data, dict):
        raise RecipeError(f"{where}: a recipe must be a YAML mapping, got {type(data).__name__}")
    data = apply_overrides(json.loads(json.dumps(data)), overrides, where)
    try:
        return Recipe.model_validate(data)
    except ValidationError as exc:
        raise RecipeError(_format_error(exc, where)) from None


def find_recipe(spec: str | Path) -> Path:
    """A YAML path as given, else a bundled recipe by name (``wiki-windows``) or by the path a
    card shows (``recipes/wiki-windows.yaml``, found from any folder)."""
    from curate.resources import bundled_recipe, recipe_names

    p = Path(spec).expanduser()
    if p.exists():
        return p
    bundled = bundled_recipe(str(spec))
    if bundled is not None:
        return bundled
    raise RecipeError(f"recipe {spec} does not exist",
                      hint=f"give a YAML path or one of: {', '.join(recipe_names())}")


def load_recipe(spec: str | Path = "default", overrides: list[str] | None = None) -> Recipe:
    from curate.yamlio import read_yaml

    path = find_recipe(spec)
    recipe = parse_recipe(read_yaml(path), str(path), overrides)
    check_seq_len(recipe, str(path))
    return recipe


def check_seq_len(recipe: Recipe, where: str = "recipe") -> None:
    """``seq_len`` must fit the model's maximum positions (read from its config, no weights)."""
    from curate.errors import CurateError
    from curate.models import max_positions

    try:
        limit = max_positions(recipe.model.name, recipe.model.revision)
    except CurateError:  # an unknown model is reported, with its fix, by the build's own checks
        return
    if limit is not None and recipe.seq_len > limit:
        raise RecipeError(f"{where}: field 'seq_len': {recipe.seq_len} exceeds the {limit} positions of model "
                          f"'{recipe.model.name}'", hint=f"set seq_len <= {limit}")
