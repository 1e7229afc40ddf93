"""curate.resources: the one place that finds recipes, the card template and the task files."""

from __future__ import annotations

from pathlib import Path

import pytest

from curate import resources
from curate.errors import RecipeError
from curate.recipe import find_recipe, load_recipe

ROOT = Path(__file__).resolve().parents[1]


def test_checkout_reads_the_top_level_folders():
    assert resources.checkout_root() == ROOT
    assert resources.recipes_dir() == ROOT / "recipes"
    assert resources.recipe_names() == sorted(p.stem for p in (ROOT / "recipes").glob("*.yaml"))
    assert resources.card_template_text() == (ROOT / "datasets_cards" / resources.CARD_TEMPLATE).read_text()
    assert resources.tasks_dir() == ROOT / "curate" / "tasks"
    assert (resources.task_data_dir() / "lastword_wikipedia.jsonl").is_file()


@pytest.mark.parametrize("spec", ["wiki-windows", "wiki-windows.yaml", "recipes/wiki-windows.yaml"])
def test_bundled_recipe_found_from_any_folder(spec, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no recipes/ here: the card's "recipes/x.yaml" still rebuilds
    assert find_recipe(spec) == ROOT / "recipes" / "wiki-windows.yaml"


def test_local_file_wins_over_the_bundled_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "recipes").mkdir()
    mine = tmp_path / "recipes" / "wiki-windows.yaml"
    mine.write_text((ROOT / "recipes" / "wiki-windows.yaml").read_text().replace("seed: 0", "seed: 5"))
    assert find_recipe("recipes/wiki-windows.yaml") == Path("recipes/wiki-windows.yaml")
    assert resources.recipe_display_path("recipes/wiki-windows.yaml") == "recipes/wiki-windows.yaml"
    assert resources.recipe_display_path(str(mine)) == str(mine)  # a user's file keeps its own path


@pytest.mark.parametrize("spec", ["../pyproject", "recipes/../setup", ".hidden", "", "nope"])
def test_no_escape_from_the_recipes_folder(spec, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resources.bundled_recipe(spec) is None
    if spec:
        with pytest.raises(RecipeError, match="wiki-windows"):  # the hint lists the bundled names
            find_recipe(spec)


def test_display_path_of_a_bundled_recipe_is_the_same_everywhere(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    absolute = str(ROOT / "recipes" / "default.yaml")
    assert resources.recipe_display_path(absolute) == "recipes/default.yaml"
    assert resources.recipe_display_path(None) is None


def test_recipe_hash_is_of_content_not_location(tmp_path):
    copy = tmp_path / "elsewhere.yaml"
    copy.write_text((ROOT / "recipes" / "default.yaml").read_text())
    assert load_recipe(copy).recipe_hash == load_recipe("default").recipe_hash
