"""The calibration tokens of one draw: ``resample`` rows of the set, or ``rebuild`` its recipe.

    entries = load_sets(cfg)                              # before the model loads: bad paths fail fast
    ids, origin = draw_tokens(entries[0], 1, cfg, model, tok, info, Path("runs/val"))   # (N, L), facts

``resample`` is :meth:`curate.sets.read.CalibrationSet.draw` -- the same call ``curate prune``
makes -- with ``--retokenize`` handing over the model's tokenizer so that the ids are the
target tokenizer's. ``rebuild`` builds the set's recipe again with the draw's seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from curate.errors import CurateError
from curate.files import slug
from curate.validate.config import ValidateConfig


@dataclass
class SetEntry:
    label: str
    cs: Any  # CalibrationSet
    nsamples: int
    spec: str = ""  # the path as given: what a Ray task loads the set from again


def load_sets(cfg: ValidateConfig) -> list[SetEntry]:
    from curate.sets.read import load_set

    entries: list[SetEntry] = []
    seen: dict[str, int] = {}
    for spec in cfg.sets:
        cs = load_set(spec)
        label = cs.name if cs.manifest else Path(spec).name
        if label in seen:  # two sets with the same name@version: disambiguate by position
            seen[label] += 1
            label = f"{label}#{seen[label]}"
        else:
            seen[label] = 1
        if cfg.nsamples is not None:
            n = cfg.nsamples
            if n > len(cs):
                raise CurateError(f"--nsamples {n} exceeds the {len(cs)} rows of set {label}",
                                  hint="lower --nsamples or build a larger set")
        else:
            # Draws of N = all rows would all be identical; half the set keeps draws distinct.
            n = max(1, min(128, len(cs) // 2))
        entries.append(SetEntry(label, cs, n, spec))
    return entries


def draw_tokens(entry: SetEntry, seed: int, cfg: ValidateConfig, model, tokenizer, info, work: Path):
    """Calibration tokens (N, L) of one draw, the (N, L) token mask of the statistics (the rows'
    assistant_mask under ``--mask assistant``, else None), and where the tokens came from; with the
    model's <bos> put first where its tokenizer has one (then (N, 1 + L), the mask 0 there)."""
    from curate.models import bos_prefix, with_prefix

    ids, stat_mask, origin = _draw_rows(entry, seed, cfg, model, tokenizer, info, work)
    ids, stat_mask = with_prefix(ids, bos_prefix(tokenizer), stat_mask)
    return ids, stat_mask, origin


def _draw_rows(entry: SetEntry, seed: int, cfg: ValidateConfig, model, tokenizer, info, work: Path):
    from curate.prune import check_vocabulary

    masked = cfg.quant is None and cfg.prune.mask == "assistant"
    if cfg.draw == "resample":
        ids = entry.cs.draw(entry.nsamples, seed, tokenizer=tokenizer, retokenize=cfg.retokenize, with_mask=masked)
        ids, stat_mask = ids if masked else (ids, None)
        check_vocabulary(ids, model, entry.label, cfg.model)
        return ids, stat_mask, {"draw": "resample", "rows": entry.nsamples, "of": len(entry.cs),
                     "retokenized": cfg.retokenize}
    recipe_dict = (entry.cs.manifest or {}).get("recipe")
    if not recipe_dict:
        raise CurateError(f"set {entry.label} has no recipe in its manifest", hint="use --draw resample")
    from curate.build import build_recipe
    from curate.context import RunContext
    from curate.recipe import Recipe
    from curate.sets.read import load_set

    recipe = Recipe.model_validate(recipe_dict)
    recipe = recipe.model_copy(update={"seed": seed})
    where = Path(cfg.rebuild_dir) if cfg.rebuild_dir is not None else work / "rebuilt"
    where = where / slug(entry.label)
    # Same recipe + seed + model = same set (the fingerprint contract): the given set (the seed it
    # was built with) or a version another validation built here is reused, not rebuilt.
    sha = getattr(info, "sha", None)
    built = entry.cs if same_build(entry.cs.manifest or {}, recipe.recipe_hash, sha) and entry.cs.path else None
    if built is None:
        built = reusable_build(where, recipe.recipe_hash, sha)
    if built is None:
        ctx = RunContext.from_objects(model, tokenizer, info, seed=seed, progress=cfg.progress)
        built = load_set(build_recipe(recipe, where, seed=seed, ctx=ctx, progress=cfg.progress).path)
    n = min(entry.nsamples, len(built)) if cfg.nsamples else len(built)
    ids, stat_mask = built.draw(n, seed, with_mask=True) if masked else (built.draw(n, seed), None)
    return ids, stat_mask, {"draw": "rebuild", "path": str(built.path), "rows": n,
                                 "fingerprint": built.fingerprint}


def same_build(manifest: dict, recipe_hash: str, model_sha: str | None) -> bool:
    """A manifest of this exact recipe (seed included) built with these model weights."""
    return manifest.get("recipe_hash") == recipe_hash and \
        (model_sha is None or (manifest.get("model") or {}).get("sha") in (None, model_sha))


def reusable_build(root: Path, recipe_hash: str, model_sha: str | None):
    """The newest finished, verified version under ``root`` that :func:`same_build` accepts, loaded
    (a CalibrationSet), or None. A damaged version is never reused (rebuilt instead)."""
    from curate.sets.layout import list_versions
    from curate.sets.read import load_set

    for m in reversed(list_versions(root)):
        if m.get("error") or not same_build(m, recipe_hash, model_sha):
            continue
        try:
            return load_set(m["path"])  # checks the files against the manifest's fingerprint
        except CurateError:
            continue
    return None
