"""Recipes: strict, declarative YAML validated on load.

    from curate.recipe import load_recipe
    recipe = load_recipe("recipes/default.yaml", overrides=["n_samples=16"])

A recipe names a model, the set's shape (``n_samples`` x ``seq_len``), one or more
*components* (a source and the steps that turn its documents into samples) mixed in exact
proportions, and optional set-level steps (e.g. IGSP selection) over the union. Unknown keys are
errors naming the file and the field; choices are literals. ``recipe_hash`` is a canonical hash
of the validated recipe; it goes into the manifest, the version and the card.

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
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from curate.errors import RecipeError


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


# --------------------------------------------------------------------------- sources
class BundledSourceSpec(Strict):
    type: Literal["bundled"] = "bundled"
    name: Literal["wikipedia", "shakespeare", "python-stdlib", "champ-math", "chat"]


class FilesSourceSpec(Strict):
    type: Literal["files"]
    paths: list[str] = Field(min_length=1)
    text_field: str = "text"
    id_field: str | None = None
    name: str | None = None
    domain: str | None = None
    license: str | None = None

    @field_validator("paths", mode="before")
    @classmethod
    def _one_path(cls, v):
        return [v] if isinstance(v, str) else v


class HFSourceSpec(Strict):
    type: Literal["hf"]
    path: str
    config: str | None = None
    split: str = "train"
    text_field: str = "text"
    id_field: str | None = None
    revision: str | None = None
    streaming: bool = False
    data_files: Any = None
    max_docs: int | None = Field(default=None, gt=0)
    shuffle_buffer: int | None = Field(default=None, gt=0)
    name: str | None = None
    domain: str | None = None
    license: str | None = None


SourceSpec = Annotated[BundledSourceSpec | FilesSourceSpec | HFSourceSpec, Field(discriminator="type")]


# --------------------------------------------------------------------------- steps
class SampleStep(Strict):
    """Turn documents into L-token samples (Wanda/SparseGPT random windows, or packing)."""

    type: Literal["sample"]
    method: Literal["random_windows", "packing"] = "random_windows"
    oversample: float = Field(default=1.0, ge=1.0)


class GenerateStep(Strict):
    """Self-generation from k-token prefixes (Ji et al. 2024) or from the start token
    (self-calibration, Williams et al. 2024)."""

    type: Literal["generate"]
    prefix_tokens: int | list[int] = Field(default=4)  # k, or [k_min, k_max] drawn per sample
    temperature: float | None = Field(default=0.8, gt=0)
    # Linear temperature schedule over generated positions (Williams et al. 2024):
    # [t_start, t_end]; overrides ``temperature`` when given.
    temperature_schedule: tuple[float, float] | None = None
    schedule_tokens: int | None = Field(default=None, gt=0)  # n of the schedule; default: all
    top_p: float = Field(default=0.95, gt=0, le=1)
    top_k: int | None = Field(default=50, ge=0)
    repetition_penalty: float = Field(default=1.2, gt=0)
    oversample: float = Field(default=1.0, ge=1.0)
    backend: Literal["transformers", "vllm"] = "transformers"
    batch_size: int | None = Field(default=None, gt=0)

    @field_validator("prefix_tokens")
    @classmethod
    def _prefix(cls, v):
        vals = [v] if isinstance(v, int) else list(v)
        if len(vals) not in (1, 2) or any(k < 0 or k > 1024 for k in vals) or vals != sorted(vals):
            raise ValueError("prefix_tokens must be k or [k_min, k_max] with 0 <= k <= 1024")
        return v


class PerplexityFilterStep(Strict):
    """Drop the ``drop_top`` fraction of highest-perplexity samples (Ji et al. 2024: 20 %)."""

    type: Literal["perplexity_filter"]
    drop_top: float = Field(default=0.2, ge=0, lt=1)
    drop_bottom: float = Field(default=0.0, ge=0, lt=1)


class LengthFilterStep(Strict):
    """Drop documents shorter than ``min_chars`` / ``min_words`` (before sampling)."""

    type: Literal["length_filter"]
    min_chars: int = Field(default=0, ge=0)
    min_words: int = Field(default=0, ge=0)
    max_chars: int | None = Field(default=None, gt=0)


class DedupStep(Strict):
    """Drop near-duplicate samples (MinHash-LSH on word n-grams above ``threshold``)."""

    type: Literal["dedup"]
    threshold: float = Field(default=0.8, gt=0, le=1)
    ngram: int = Field(default=3, ge=1)
    num_perm: int = Field(default=128, ge=16)


class QualityFilterStep(Strict):
    """datatrove document filters (Gopher quality/repetition, FineWeb) on raw documents."""

    type: Literal["quality_filter"]
    filters: list[Literal["gopher_quality", "gopher_repetition", "fineweb_quality", "c4_quality"]] = ["gopher_quality"]


class ScoreStep(Strict):
    """Attach a score from ``curate.scoring.SCORERS`` to every sample."""

    model_config = ConfigDict(extra="allow")  # scorer parameters are checked by the scorer
    type: Literal["score"]
    scorer: str


class SelectStep(Strict):
    """Keep the ``n`` (or ``fraction``) samples with the highest/lowest score, or at random."""

    type: Literal["select"]
    by: str | None = None  # a score name; None with order=random
    order: Literal["highest", "lowest", "random"] = "highest"
    n: int | None = Field(default=None, gt=0)  # default: the component's target count
    fraction: float | None = Field(default=None, gt=0, le=1)

    @model_validator(mode="after")
    def _check(self):
        if self.order != "random" and not self.by:
            raise ValueError("'by' is required unless order is 'random'")
        if self.n is not None and self.fraction is not None:
            raise ValueError("give either 'n' or 'fraction', not both")
        return self


class IGSPStep(Strict):
    """IGSP selection (Xu et al. 2026): minimise 4-gram aggregation, balance perplexity strata."""

    type: Literal["igsp"]
    n: int | None = Field(default=None, gt=0)
    ngram: int = Field(default=4, ge=1)
    strata: int = Field(default=4, ge=1)
    balance_by: Literal["perplexity"] = "perplexity"
    group_by: Literal["source", "none"] = "source"


class ColaStep(Strict):
    """COLA-style selection (He et al. 2025): k-means on mean-pooled hidden states, one
    representative per cluster (curate/strategies/cola.py)."""

    type: Literal["cola"]
    n: int | None = Field(default=None, gt=0)
    layer: Literal["last", "middle"] = "middle"
    normalize: bool = True


class ZipCalStep(Strict):
    """ZipCal-style model-free selection (Monaco et al. 2026): greedy word-type coverage
    (curate/strategies/zipcal.py)."""

    type: Literal["zipcal"]
    n: int | None = Field(default=None, gt=0)


StepSpec = Annotated[
    SampleStep | GenerateStep | PerplexityFilterStep | LengthFilterStep | DedupStep | QualityFilterStep
    | ScoreStep | SelectStep | IGSPStep | ColaStep | ZipCalStep,
    Field(discriminator="type"),
]
PRODUCERS = ("sample", "generate")
SELECTORS = ("select", "igsp", "cola", "zipcal")  # set-level steps that cut a pool to n_samples


class ComponentSpec(Strict):
    name: str | None = None
    source: SourceSpec
    weight: float | None = Field(default=None, gt=0)
    count: int | None = Field(default=None, gt=0)
    steps: list[StepSpec] = Field(default_factory=lambda: [SampleStep(type="sample")])

    @model_validator(mode="after")
    def _check(self):
        if self.weight is not None and self.count is not None:
            raise ValueError("give a component either 'weight' or 'count', not both")
        producers = [i for i, s in enumerate(self.steps) if s.type in PRODUCERS]
        if len(producers) != 1:
            raise ValueError("each component needs exactly one 'sample' or 'generate' step")
        i = producers[0]
        for s in self.steps[:i]:
            if s.type not in ("length_filter", "quality_filter"):
                raise ValueError(f"step '{s.type}' must come after the '{self.steps[i].type}' step")
        for s in self.steps[i + 1:]:
            if s.type in ("length_filter", "quality_filter"):
                raise ValueError(f"document filter '{s.type}' must come before the '{self.steps[i].type}' step")
        return self

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        return f"self-gen:{self.base_name}" if any(s.type == "generate" for s in self.steps) else self.base_name

    @property
    def base_name(self) -> str:
        """Name of the source: its ``name``, else the Hub path's last part or the first file's stem."""
        src = self.source
        if getattr(src, "name", None):
            return str(src.name)
        if src.type == "hf":
            return src.path.rstrip("/").split("/")[-1]
        return Path(src.paths[0]).stem.replace("*", "") or "files"


class ModelSpec(Strict):
    name: str = "smollm2-135m"
    revision: str | None = None
    dtype: Literal["float32", "bfloat16", "float16", "auto"] = "float32"
    device: str | None = None
    batch_size: int = Field(default=8, gt=0)
    trust_remote_code: bool = False
    allow_pickle: bool = False


class StrategySpec(Strict):
    name: str
    paper: str | None = None
    url: str | None = None
    bibtex: str | None = None
    notes: str | None = None


class Recipe(Strict):
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
    steps: list[StepSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self):
        pool = self.pool_size or self.n_samples
        if pool < self.n_samples:
            raise ValueError("pool_size must be >= n_samples")
        counts = [c.count for c in self.components if c.count is not None]
        if counts and len(counts) != len(self.components):
            raise ValueError("give 'count' to every component or to none (use weights)")
        if counts and sum(counts) != pool:
            raise ValueError(f"component counts sum to {sum(counts)}, expected {pool} (pool_size or n_samples)")
        for s in self.steps:
            if s.type in PRODUCERS or s.type in ("length_filter", "quality_filter"):
                raise ValueError(f"step '{s.type}' belongs inside a component, not in set-level 'steps'")
        labels = [c.label for c in self.components]
        if len(set(labels)) != len(labels):
            raise ValueError(f"component names must be unique (got {labels}); set 'name' on each")
        if pool > self.n_samples and not any(s.type in SELECTORS for s in self.steps):
            raise ValueError("pool_size > n_samples needs a set-level 'select', 'igsp', 'cola' or 'zipcal' step")
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


def apportion(total: int, weights: list[float]) -> list[int]:
    """Largest-remainder (Hamilton) apportionment: counts sum exactly to ``total``; ties go to
    the earlier component so the result is deterministic."""
    s = float(sum(weights))
    quotas = [total * w / s for w in weights]
    counts = [int(q) for q in quotas]
    order = sorted(range(len(weights)), key=lambda i: (-(quotas[i] - counts[i]), i))
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


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
        _set_path(data, key.strip(), yaml.safe_load(raw), where)
    return data


def _format_error(exc: ValidationError, where: str) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(x) for x in err["loc"] if not (isinstance(x, str) and x in _UNION_TAGS))
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = "unknown field"
    elif err["type"] == "literal_error":
        msg = f"invalid value {err.get('input')!r}; {msg.lower()}"
    elif err["type"] == "union_tag_invalid":
        msg = f"invalid type {err.get('input', {}).get('type') if isinstance(err.get('input'), dict) else ''}; {msg}"
    more = f" (+{len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return f"{where}: field '{loc or '<root>'}': {msg}{more}"


_UNION_TAGS = {"bundled", "files", "hf", "sample", "generate", "perplexity_filter", "length_filter", "dedup",
               "quality_filter", "score", "select", "igsp", "cola", "zipcal"}


def parse_recipe(data: Any, where: str = "recipe", overrides: list[str] | None = None) -> Recipe:
    if not isinstance(data, dict):
        raise RecipeError(f"{where}: a recipe must be a YAML mapping, got {type(data).__name__}")
    data = apply_overrides(json.loads(json.dumps(data)), overrides, where)
    try:
        return Recipe.model_validate(data)
    except ValidationError as exc:
        raise RecipeError(_format_error(exc, where)) from None


def recipes_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "recipes"


def find_recipe(spec: str | Path) -> Path:
    p = Path(spec).expanduser()
    if p.exists():
        return p
    for cand in (recipes_dir() / f"{spec}.yaml", recipes_dir() / str(spec)):
        if cand.exists():
            return cand
    names = sorted(f.stem for f in recipes_dir().glob("*.yaml"))
    raise RecipeError(f"recipe {spec} does not exist", hint=f"give a YAML path or one of: {', '.join(names)}")


def load_recipe(spec: str | Path = "default", overrides: list[str] | None = None) -> Recipe:
    path = find_recipe(spec)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise RecipeError(f"{path}:{where} is not valid YAML: {getattr(exc, 'problem', exc)}") from None
    return parse_recipe(data, str(path), overrides)
