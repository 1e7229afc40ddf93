"""The files curate ships beside its code: bundled recipes, the dataset card template, the
offline lm-eval task YAMLs and their data. Every reader of them goes through this module.

    from curate import resources
    resources.recipe_names()                  # ['beware-selfgen', ..., 'wiki-windows', 'zipcal']
    resources.bundled_recipe("wiki-windows")  # Path of recipes/wiki-windows.yaml, or None
    resources.card_template_text()            # datasets_cards/calibration_set.md.j2
    resources.tasks_dir()                     # folder for lm-eval's TaskManager(include_path=...)

The repository keeps ``recipes/`` and ``datasets_cards/`` at its top level; the build (setup.py)
maps them into the wheel as ``curate/recipes/`` and ``curate/card_templates/``, and the task
files already live in ``curate/tasks/``. Each folder is found through ``importlib.resources``
from the imported ``curate`` package: in a wheel install that is the package's own copy; in a
checkout (``curate/`` beside the repository's ``pyproject.toml``) it is the repository's
top-level folder, so an edited recipe shows at once and a second worktree on the same
virtualenv never reads the first one's files through its editable-install finder.
"""

from __future__ import annotations

import atexit
import contextlib
from importlib import resources as _ir
from importlib.resources.abc import Traversable
from pathlib import Path

# folder inside the installed package -> folder at the top of the repository (setup.py maps the
# second onto the first; tests/test_packaging.py checks that the wheel really holds them).
PACKAGE_DATA_DIRS: dict[str, str] = {"recipes": "recipes", "card_templates": "datasets_cards"}
CARD_TEMPLATE = "calibration_set.md.j2"
BUNDLED_RECIPE_PREFIX = "recipes/"  # how a card shows a bundled recipe: recipes/<name>.yaml

_keep_open = contextlib.ExitStack()  # files extracted by as_file() live until the process exits
atexit.register(_keep_open.close)


def _package_root() -> Traversable:
    return _ir.files("curate")


def checkout_root() -> Path | None:
    """The repository root when this ``curate`` is imported from a checkout, else None."""
    root = _package_root()
    if isinstance(root, Path) and (root.parent / "pyproject.toml").is_file() \
            and (root.parent / "recipes").is_dir() and (root.parent / "datasets_cards").is_dir():
        return root.parent
    return None


def _data_dir(name: str) -> Traversable:
    top = checkout_root()
    return top / PACKAGE_DATA_DIRS[name] if top is not None else _package_root() / name


def as_path(res: Traversable) -> Path:
    """A real file system path for ``res`` (lm-eval and jinja want one). Installed wheels are
    plain folders, so this is the resource itself; a zipped install is extracted once."""
    if isinstance(res, Path):
        return res
    return _keep_open.enter_context(_ir.as_file(res))


def recipes_dir() -> Path:
    """The folder of the bundled recipes (``recipes/`` of a checkout, ``curate/recipes`` of a wheel)."""
    return as_path(_data_dir("recipes"))


def bundled_recipes() -> dict[str, Path]:
    """Bundled recipe name -> its YAML file, sorted by name: what ``curate recipes`` lists."""
    found = {f.name.removesuffix(".yaml"): f for f in _data_dir("recipes").iterdir()
             if f.is_file() and f.name.endswith(".yaml")}
    return {name: as_path(found[name]) for name in sorted(found)}


def recipe_names() -> list[str]:
    return list(bundled_recipes())


def bundled_recipe(spec: str) -> Path | None:
    """The bundled recipe named by ``spec`` (``wiki-windows``, ``wiki-windows.yaml`` or the
    card's ``recipes/wiki-windows.yaml``), None when there is none."""
    name = spec.removeprefix(BUNDLED_RECIPE_PREFIX).removesuffix(".yaml")
    if not name or "/" in name or "\\" in name or name.startswith("."):
        return None
    res = _data_dir("recipes") / f"{name}.yaml"
    return as_path(res) if res.is_file() else None


def recipe_display_path(path: str | Path | None) -> str | None:
    """How a manifest and a card record a recipe file: ``recipes/<name>.yaml`` for a bundled
    recipe wherever curate is installed (``curate build recipes/<name>.yaml`` rebuilds it from
    any folder), the path as given otherwise."""
    if not path:
        return None if path is None else str(path)
    p = Path(path)
    try:
        inside = p.resolve().parent == recipes_dir().resolve()
    except OSError:
        inside = False
    return f"{BUNDLED_RECIPE_PREFIX}{p.name}" if inside and p.suffix == ".yaml" else str(path)


def card_template_text() -> str:
    """The Jinja2 source of the dataset card (``datasets_cards/calibration_set.md.j2``)."""
    return (_data_dir("card_templates") / CARD_TEMPLATE).read_text(encoding="utf-8")


def card_template_location() -> str:
    """Where the card template is read from, for error hints."""
    return str(_data_dir("card_templates") / CARD_TEMPLATE)


def tasks_dir() -> Path:
    """The folder of curate's offline lm-eval task YAMLs (``curate/tasks``)."""
    return as_path(_package_root() / "tasks")


def task_data_dir() -> Path:
    """The folder of the offline tasks' jsonl data (``curate/tasks/data``)."""
    return tasks_dir() / "data"
