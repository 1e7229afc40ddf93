from pathlib import Path

import pytest

from curate.errors import RecipeError
from curate.recipe import apportion, load_recipe, parse_recipe, recipes_dir

BASE = {"name": "t", "seq_len": 16, "n_samples": 4,
        "components": [{"source": {"type": "bundled", "name": "wikipedia"}}]}


def test_every_bundled_recipe_validates():
    files = sorted(recipes_dir().glob("*.yaml"))
    assert len(files) >= 3
    for f in files:
        r = load_recipe(f)
        assert r.name and r.n_samples > 0 and len(r.recipe_hash) == 16


@pytest.mark.parametrize("total,weights", [(32, [1, 1, 1, 1, 1]), (10, [0.5, 0.3, 0.2]), (7, [1, 2]),
                                           (128, [0.4, 0.4, 0.1, 0.1]), (3, [1, 1, 1, 1])])
def test_apportion_is_exact_and_proportional(total, weights):
    counts = apportion(total, weights)
    assert sum(counts) == total
    s = sum(weights)
    for c, w in zip(counts, weights, strict=False):
        assert abs(c - total * w / s) < 1  # largest remainder: within one of the quota


def test_component_counts_from_weights_and_counts():
    r = parse_recipe({**BASE, "n_samples": 10, "components": [
        {"source": {"type": "bundled", "name": "wikipedia"}, "weight": 3},
        {"source": {"type": "bundled", "name": "chat"}, "weight": 1}]})
    assert r.component_counts() == [8, 2] or r.component_counts() == [7, 3]
    assert sum(r.component_counts()) == 10
    with pytest.raises(RecipeError, match="sum to 5"):
        parse_recipe({**BASE, "components": [{"source": {"type": "bundled", "name": "wikipedia"}, "count": 5}]})


@pytest.mark.parametrize("mutate,field", [
    (lambda d: d.update(nsamples=3), "nsamples"),
    (lambda d: d["components"][0].update(stepz=[]), "components.0.stepz"),
    (lambda d: d["components"][0]["source"].update(name="wikipediaa"), "components.0.source.name"),
    (lambda d: d["components"][0].update(steps=[{"type": "generate", "temperatur": 1}]), "components.0.steps.0.temperatur"),
    (lambda d: d.update(seq_len=0), "seq_len"),
    (lambda d: d["components"][0].update(steps=[{"type": "perplexity_filter"}]), "components.0"),
])
def test_bad_recipes_name_the_field(mutate, field):
    import copy

    d = copy.deepcopy(BASE)
    mutate(d)
    with pytest.raises(RecipeError) as exc:
        parse_recipe(d, "r.yaml")
    msg = str(exc.value)
    assert msg.startswith("r.yaml: field ") and f"'{field}" in msg and "\n" not in msg


def test_overrides_and_hash(tmp_path: Path):
    import yaml

    f = tmp_path / "r.yaml"
    f.write_text(yaml.safe_dump(BASE))
    a, b = load_recipe(f), load_recipe(f, ["n_samples=8", "components.0.source.name=chat"])
    assert b.n_samples == 8 and b.components[0].source.name == "chat"
    assert a.recipe_hash == load_recipe(f).recipe_hash != b.recipe_hash
    with pytest.raises(RecipeError, match="not key=value"):
        load_recipe(f, ["n_samples"])


def test_malformed_yaml_and_missing_file(tmp_path: Path):
    f = tmp_path / "bad.yaml"
    f.write_text("name: [unclosed\n")
    with pytest.raises(RecipeError, match="not valid YAML"):
        load_recipe(f)
    with pytest.raises(RecipeError, match="does not exist"):
        load_recipe(tmp_path / "nope.yaml")
