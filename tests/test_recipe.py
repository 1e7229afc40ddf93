from pathlib import Path

import pytest

from curate.errors import RecipeError
from curate.recipe import load_recipe, parse_recipe, recipes_dir
from curate.steps.select import apportion

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


@pytest.mark.parametrize("component,message", [
    ({"source": {"type": "bundled", "name": "wikipedai"}},
     "field 'components.0.source.name': unknown bundled source 'wikipedai'; did you mean 'wikipedia'?"),
    ({"source": {"type": "bundeld", "name": "wikipedia"}},
     "field 'components.0.source.type': unknown source type 'bundeld'; did you mean 'bundled'?"),
    ({"source": {"type": "bundled", "name": "chat"}, "steps": [{"type": "sample"}, {"type": "dedupe"}]},
     "field 'components.0.steps.1.type': unknown step type 'dedupe'; did you mean 'dedup'?"),
    ({"source": {"type": "bundled", "name": "chat"}, "steps": [{"type": "sample", "method": "packign"}]},
     "field 'components.0.steps.0.method': unknown sampler 'packign'; did you mean 'packing'?"),
    ({"source": {"type": "bundled", "name": "chat"}, "steps": [{"type": "generate", "backend": "vlm"}]},
     "field 'components.0.steps.0.backend': unknown generation backend 'vlm'; did you mean 'vllm'?"),
    ({"source": {"type": "bundled", "name": "chat"},
      "steps": [{"type": "sample"}, {"type": "score", "scorer": "min_kpp"}]},
     "field 'components.0.steps.1.scorer': unknown scorer 'min_kpp'; did you mean 'min_k_pp'?"),
    ({"source": {"type": "bundled", "name": "chat"},
      "steps": [{"type": "sample"}, {"type": "score", "scorer": "min_k_pp", "kk": 0.5}]},
     "field 'components.0.steps.1': scorer 'min_k_pp' has no parameter 'kk' (did you mean 'k'?)"),
    ({"source": {"type": "bundled", "name": "chat"}, "steps": [{"method": "packing"}]},
     "field 'components.0.steps.0.type': missing; give one of: chat, cola, dedup, ebss, expert_balanced, generate"),
])
def test_unknown_names_are_one_line_with_did_you_mean(component, message):
    with pytest.raises(RecipeError) as exc:
        parse_recipe({**BASE, "components": [component]}, "r.yaml")
    assert str(exc.value).startswith(f"r.yaml: {message}"), str(exc.value)
    assert "\n" not in str(exc.value)


def test_where_a_step_may_stand_comes_from_its_spec():
    def comp(*steps):
        return {**BASE, "components": [{"source": {"type": "bundled", "name": "chat"}, "steps": list(steps)}]}

    parse_recipe(comp({"type": "length_filter"}, {"type": "sample"}, {"type": "dedup"}))
    with pytest.raises(RecipeError, match="document filter 'length_filter' must come before the 'sample' step"):
        parse_recipe(comp({"type": "sample"}, {"type": "length_filter"}))
    with pytest.raises(RecipeError, match="step 'dedup' must come after the 'sample' step"):
        parse_recipe(comp({"type": "dedup"}, {"type": "sample"}))
    with pytest.raises(RecipeError, match="exactly one 'chat' or 'ebss' or 'generate' or 'sample' step"):
        parse_recipe(comp({"type": "sample"}, {"type": "generate"}))
    with pytest.raises(RecipeError, match="'sample' belongs inside a component"):
        parse_recipe({**BASE, "steps": [{"type": "sample"}]})
    with pytest.raises(RecipeError, match="needs a set-level 'cola' or 'expert_balanced' or 'igsp' or 'select' or 'zipcal' step"):
        parse_recipe({**BASE, "pool_size": 8})
