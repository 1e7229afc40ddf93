"""Retention predictor: on synthetic stores where the truth is known, and the CLI on a tiny one."""

import json
import random

import polars as pl
import pytest

from curate.validate.predict import (
    append_results,
    fit_predictor,
    load_predictor,
    read_store,
    recipe_of,
    set_features,
)
from curate.validate.results import MOE_COLUMNS, TABLE_COLUMNS

RECIPES = [f"r{i}" for i in range(8)]


def _truth(recipe: str) -> tuple[dict, float]:
    """Features of a recipe's set and its true Total retention (linear in two features)."""
    i = RECIPES.index(recipe)
    rng = random.Random(i)
    feats = {"ngram4_aggregation": 0.02 + 0.01 * ((i * 5) % 8), "mix:python-stdlib": i / 10,
             "noise": rng.uniform(0, 1)}
    return feats, 0.5 + 0.3 * feats["mix:python-stdlib"] - 2.0 * feats["ngram4_aggregation"]


def _store_rows(seeds=3, noise=0.005, sparsity=0.6):
    rng = random.Random(0)
    rows, feats = [], {}
    for r in RECIPES:
        f, ret = _truth(r)
        fp = f"fp-{r}"
        feats[fp] = f
        for seed in range(seeds):
            for metric, dim in (("ppl:wiki", "General"), ("ppl:code", "Code")):
                v = ret + rng.gauss(0, noise)
                rows.append([f"{r}@v1.0.0", fp, seed, "wanda", sparsity, "unstructured", metric, dim,
                             10.0 / v, 10.0, v])
    # a table without the MoE columns (as before they existed): predict fills them with nulls
    return pl.DataFrame(rows, schema=[c for c in TABLE_COLUMNS if c not in MOE_COLUMNS], orient="row"), feats


def test_recipe_name_drops_the_version():
    assert recipe_of("igsp@v1.0.0") == "igsp" and recipe_of("wiki#2") == "wiki"


def test_leave_one_recipe_out_recovers_a_known_ranking():
    rows, feats = _store_rows()
    pred = fit_predictor(rows, feats)
    assert pred.n_rows == 8 * 3 and pred.n_recipes == 8
    assert pred.rho_recipe["Total"] > 0.9 and pred.rho_rows["Total"] > 0.8
    truth = {r: _truth(r)[1] for r in RECIPES}
    ranked = pred.rank({r: _truth(r)[0] for r in RECIPES})
    assert [x["set"] for x in ranked] == sorted(RECIPES, key=lambda r: -truth[r])
    for x in ranked:  # the interval covers the truth at this noise level
        lo, hi = x["Total"][1], x["Total"][2]
        assert lo <= truth[x["set"]] <= hi


def test_pure_noise_gives_no_rank_correlation():
    rows, feats = _store_rows()
    rng = random.Random(5)
    shuffled = rows.with_columns(pl.Series("retention", [rng.uniform(0.3, 0.7) for _ in range(rows.height)]))
    pred = fit_predictor(shuffled, {fp: {"noise": f["noise"]} for fp, f in feats.items()})
    assert abs(pred.rho_recipe["Total"]) < 0.9  # nothing to learn: no near-perfect rho


def test_other_pruning_configs_are_kept_apart():
    a, feats = _store_rows(sparsity=0.6)
    b, _ = _store_rows(sparsity=0.5, seeds=1)
    pred = fit_predictor(pl.concat([a, b]), feats)
    assert pred.config["sparsity"] == 0.6 and pred.n_rows == 24


def test_too_few_recipes_is_a_clear_error():
    from curate.errors import CurateError

    rows, feats = _store_rows()
    two = rows.filter(pl.col("set").is_in(["r0@v1.0.0", "r1@v1.0.0"]))
    with pytest.raises(CurateError, match="at least 3"):
        fit_predictor(two, feats)


def test_store_is_idempotent_and_keeps_features(tmp_path):
    rows, feats = _store_rows()
    p1 = append_results(rows, tmp_path)
    p2 = append_results(rows.sample(fraction=1.0, shuffle=True, seed=1), tmp_path)
    assert p1 == p2 and len(list((tmp_path / "rows").glob("*.parquet"))) == 1
    for fp, f in feats.items():
        (tmp_path / "features").mkdir(exist_ok=True)
        (tmp_path / "features" / f"{fp}.json").write_text(json.dumps({"fingerprint": fp, "features": f}))
    got_rows, got_feats = read_store(tmp_path)
    assert got_rows.height == rows.height and got_feats == feats


def test_set_features_mixture_and_domain_similarity():
    texts = ["def f(x): return x + 1 and more code here", "the king spoke to the court of the realm today"]
    f = set_features(texts, ["python-stdlib", "self-gen:wikipedia"],
                     domains={"code": ["def f(x): return x + 1 and more code here"], "other": ["zzz yyy xxx www"]})
    assert f["mix:python-stdlib"] == 0.5 and f["mix:self-gen"] == 0.5 and f["mix:wikipedia"] == 0.0
    assert f["minhash:code"] > f["minhash:other"] == 0.0
    assert 0 <= f["ngram4_aggregation"] <= 1 and "log_ppl" not in f


def test_cli_fit_and_error(tmp_path):
    from curate.cli import main

    rows, feats = _store_rows()
    append_results(rows, tmp_path / "store")
    (tmp_path / "store" / "features").mkdir()
    for fp, f in feats.items():
        (tmp_path / "store" / "features" / f"{fp}.json").write_text(json.dumps({"fingerprint": fp, "features": f}))
    out = tmp_path / "p.json"
    assert main(["predict", "fit", "--store", str(tmp_path / "store"), "--out", str(out)]) == 0
    pred = load_predictor(out)
    assert pred.n_rows == 24 and json.loads(out.read_text())["summary"]["n_recipes"] == 8
    assert main(["predict", "fit", "--store", str(tmp_path / "empty"), "--out", str(out)]) == 2


@pytest.mark.slow  # MinHash of every bundled source's held-out split (~15 s on 2 idle cores)
def test_features_of_real_set_folders_and_rank_cli(tmp_path, tiny_lm):
    """A built set's features go into the store, and `curate predict rank` ranks set folders."""
    from curate.build import build_recipe
    from curate.cli import main
    from curate.context import RunContext
    from curate.recipe import parse_recipe
    from curate.validate.predict import LinearModel, Predictor, _pipeline

    corpus = tmp_path / "docs.jsonl"
    with corpus.open("w") as fh:
        for i in range(30):
            fh.write(json.dumps({"id": f"d{i}", "text": " ".join(f"w{(i * 7 + j) % 50}" for j in range(60))}) + "\n")
    from curate.models import ModelInfo, tokenizer_fingerprint

    m, t = tiny_lm
    info = ModelInfo("tiny", "local", "/tiny", None, "0" * 64, tokenizer_fingerprint(t))
    ctx = RunContext.from_objects(m, t, info, seed=0, batch_size=4, progress=False)
    r = parse_recipe({"name": "t", "seed": 0, "seq_len": 16, "n_samples": 4,
                      "components": [{"source": {"type": "files", "paths": [str(corpus)], "id_field": "id"}}]})
    path = build_recipe(r, tmp_path / "out", ctx=ctx, progress=False).path
    rows, _ = _store_rows()
    label = rows["set"][0]
    store = tmp_path / "store"
    append_results(rows.filter(pl.col("set") == label), store, sets={label: str(path)})
    (fp,) = [p.stem for p in (store / "features").glob("*.json")]
    feats = json.loads((store / "features" / f"{fp}.json").read_text())["features"]
    assert feats["mix:python-stdlib"] == 0.0 and "minhash:wikipedia" in feats and "log_ppl" not in feats
    # a predictor over two of those features ranks the folder (model-free: no model is loaded)
    import numpy as np

    names = ["distinct_2", "ngram4_aggregation"]
    x = np.array([[0.1, 0.1], [0.5, 0.2], [0.9, 0.3]])
    pred = Predictor(features=names, dimensions=["Total"], models={"Total": LinearModel.from_pipeline(_pipeline().fit(x, [0.1, 0.5, 0.9]))},
                     halfwidth={"Total": 0.05}, rho_recipe={"Total": 1.0}, rho_rows={"Total": 1.0}, n_rows=3,
                     n_recipes=3, recipes=["a", "b", "c"], config={}, fingerprint="f" * 64)
    pred.save(tmp_path / "p.json")
    assert main(["predict", "rank", str(path), "--model", str(tmp_path / "p.json")]) == 0


# ------------------------------------------------------------------ the file: data, never code


def test_saved_predictor_round_trips_and_predicts_as_sklearn(tmp_path):
    import numpy as np

    from curate.validate.predict import _clean, _pipeline, training_frame

    rows, feats = _store_rows()
    pred = fit_predictor(rows, feats)
    back = load_predictor(pred.save(tmp_path / "p.json"))
    assert back.fingerprint == pred.fingerprint and back.features == pred.features
    frame, names, _ = training_frame(rows, feats)
    x = _clean(frame.select(names).to_numpy())
    ref = _pipeline().fit(x, frame["Total"].to_numpy()).predict(x)  # the sklearn pipeline itself
    assert np.allclose(back.models["Total"].predict(x), ref, atol=1e-10)
    assert back.rank({r: _truth(r)[0] for r in RECIPES}) == pred.rank({r: _truth(r)[0] for r in RECIPES})


class _Evil:
    """Unpickling this writes a marker file: what a crafted predictor would do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_crafted_pickle_is_refused_without_running_code(tmp_path):
    import pickle

    from curate.cli import main
    from curate.errors import CurateError

    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.joblib"
    evil.write_bytes(pickle.dumps(_Evil(marker)))
    with pytest.raises(CurateError, match="is not a curate predictor .not JSON text"):
        load_predictor(evil)
    assert main(["predict", "rank", str(tmp_path), "--model", str(evil)]) == 2
    assert not marker.exists()  # nothing was unpickled
    pickle.loads(evil.read_bytes())  # the control: the same bytes do write it when unpickled
    assert marker.exists()


def test_edited_or_other_version_predictor_is_refused(tmp_path):
    from curate.errors import CurateError

    rows, feats = _store_rows()
    path = fit_predictor(rows, feats).save(tmp_path / "p.json")
    good = json.loads(path.read_text())
    cases = {
        "edited": ({**good, "halfwidth": {k: 0.0 for k in good["halfwidth"]}}, "digest does not match"),
        "old-version": ({**good, "format_version": 1}, "format version 1"),
        "features-v0": ({**good, "feature_version": 0}, "feature version 0"),
        "not-ours": ({"hello": 1}, "no 'format'"),
        "garbage": ("{not json", "not valid JSON"),
    }
    for name, (data, msg) in cases.items():
        f = tmp_path / f"{name}.json"
        f.write_text(data if isinstance(data, str) else json.dumps(data))
        with pytest.raises(CurateError, match=msg):
            load_predictor(f)
    body = {k: v for k, v in good.items() if k != "digest"}  # re-digested but malformed numbers
    body["models"]["Total"]["coef"] = body["models"]["Total"]["coef"][:-1]
    from curate.validate.predict import _digest

    (tmp_path / "short.json").write_text(json.dumps({**body, "digest": _digest(body)}))
    with pytest.raises(CurateError, match="malformed"):
        load_predictor(tmp_path / "short.json")
