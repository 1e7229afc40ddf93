"""curate validate --executor ray on a local 2-CPU Ray cluster: the local executor's table row for
row, a draw whose worker died retried (or, past max_retries, a failed draw), resume, Ctrl-C.

    pytest tests/test_validate_ray.py -m slow -s     # prints the wall times and the tables' hashes

One module-scoped cluster (``ray.init(num_cpus=2, address="local")``: never one named by the
environment) serves every test; the tiny random Llama and the test doubles travel to the workers
(this folder is on their PYTHONPATH). Slow: Ray and torch start in every worker process.
"""

from __future__ import annotations

import _thread
import hashlib
import json
import os
import signal
import threading
import time
import zlib
from pathlib import Path

import polars as pl
import pytest
import torch
from test_validate import WordTokenizer, magnitude_prune, make_set
from tiny_models import tiny_llama

from curate.evaluate.evaluator import EvalConfig
from curate.validate import ValidateConfig, validate

ray = pytest.importorskip("ray")

pytestmark = pytest.mark.slow

TESTS = Path(__file__).resolve().parent
VOCAB = 64


class StableWordTokenizer(WordTokenizer):
    """WordTokenizer with a hash that is the same in every process (str hash() is salted per process)."""

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": [zlib.crc32(w.encode()) % VOCAB for w in text.split()] or [0]}


@pytest.fixture(scope="module")
def cluster():
    t0 = time.perf_counter()
    # Workers import the test doubles from here and curate from this checkout, not an installed copy.
    path = os.pathsep.join([str(TESTS), str(TESTS.parent), os.environ.get("PYTHONPATH", "")])
    ray.init(num_cpus=2, address="local", include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": path, "TOKENIZERS_PARALLELISM": "false"}})
    print(f"\nray.init (local 2-CPU cluster): {time.perf_counter() - t0:.1f} s")
    try:
        yield
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Two hand-written sets, the tiny model, a held-out text, and the local executor's table."""
    tmp = tmp_path_factory.mktemp("ray-validate")
    text = tmp / "held.txt"
    text.write_text(" ".join(str(i % 50) for i in range(2000)))
    w = {"tmp": tmp, "sets": [make_set(tmp / "sets", "alpha", 0), make_set(tmp / "sets", "beta", 1)],
         "model": tiny_llama(vocab_size=VOCAB, hidden=32, layers=2, seed=0), "tok": StableWordTokenizer(),
         "eval": EvalConfig(texts=[f"{text}=code"], ppl_seq_len=32, ppl_windows=4, tasks=[], limit=None)}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CURATE_CACHE", str(tmp / "cache-local"))
        t0 = time.perf_counter()
        w["local"] = run(w, "local", executor="local")
        w["local_s"] = time.perf_counter() - t0
    print(f"local executor: {w['local_s']:.1f} s, table {table_hash(w['local'])}")
    return w


def run(w, out, prune=magnitude_prune, **kw):
    cfg = ValidateConfig(sets=[str(s) for s in w["sets"]], out=w["tmp"] / out, seeds=2, eval=w["eval"],
                         progress=False, **kw)
    return validate(cfg, model_objects=(w["model"], w["tok"], None), prune_fn=prune, log=lambda m: None)


def table_hash(t: pl.DataFrame) -> str:
    return hashlib.sha256(t.write_csv().encode()).hexdigest()[:16]


def draw_sum(set_path: Path, seed: int) -> int:
    """The calibration tokens' sum of one draw (4 of the 8 rows): how a test double knows its draw."""
    from curate.sets.read import load_set

    return int(load_set(str(set_path)).draw(4, seed).sum())


class Killer:
    """magnitude_prune, except that the worker dies (os._exit) in the draws named by their token
    sum: in ``once`` on the first attempt only (a marker file remembers it), in ``always`` every time."""

    def __init__(self, marker: Path, once: set[int] = frozenset(), always: set[int] = frozenset()):
        self.marker, self.once, self.always = marker, set(once), set(always)

    def __call__(self, model, ids, cfg):
        s = int(ids.sum())
        if s in self.always:
            os._exit(1)
        if s in self.once and not self.marker.exists():
            self.marker.write_text(str(s))
            os._exit(1)
        magnitude_prune(model, ids, cfg)


def refuse(model, ids, cfg):
    raise AssertionError("a finished draw must be reused, not run again")


class SlowAfterFirst:
    """The first draw to get here prunes at once, every later one sleeps (until cancelled)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __call__(self, model, ids, cfg):
        try:
            os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            time.sleep(600)
        magnitude_prune(model, ids, cfg)


def facts(out: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((out / "draws").glob("*.json"))]


def test_ray_table_equals_local_row_for_row_and_rerun_reuses_every_draw(cluster, world, monkeypatch):
    # Own cache: the dense scores are evaluated in a Ray task, not read from the local run's cache.
    monkeypatch.setenv("CURATE_CACHE", str(world["tmp"] / "cache-ray"))
    t0 = time.perf_counter()
    t = run(world, "ray", executor="ray")
    ray_s = time.perf_counter() - t0
    print(f"ray executor: {ray_s:.1f} s (local {world['local_s']:.1f} s), table {table_hash(t)}")
    assert t.height == 4 and t.equals(world["local"])  # same rows, same floats
    assert table_hash(t) == table_hash(world["local"])
    assert list((world["tmp"] / "cache-ray" / "validate").glob("dense-*.json"))  # the task cached the dense scores
    fs = facts(world["tmp"] / "ray")
    assert len(fs) == 4 and all(f["attempt"] == 1 and f["node"] for f in fs)
    assert json.loads((world["tmp"] / "ray" / "failures.json").read_text()) == []
    # Second run, same --out: every draw is on disk, none runs (a pruner that refuses would fail it).
    t0 = time.perf_counter()
    again = run(world, "ray", prune=refuse, executor="ray")
    print(f"ray rerun (every draw reused): {time.perf_counter() - t0:.1f} s")
    assert again.equals(world["local"])
    assert json.loads((world["tmp"] / "ray" / "failures.json").read_text()) == []


def test_killed_worker_loses_only_its_draw_which_is_retried(cluster, world, monkeypatch):
    monkeypatch.setenv("CURATE_CACHE", str(world["tmp"] / "cache-kill"))
    a0, b1 = draw_sum(world["sets"][0], 0), draw_sum(world["sets"][1], 1)
    sums = {draw_sum(s, k) for s in world["sets"] for k in (0, 1)}
    assert len(sums) == 4  # the token sum names one draw
    marker = world["tmp"] / "killed-once"
    # alpha seed 0: its worker dies on the first attempt; beta seed 1: on every attempt (max_retries 1)
    t = run(world, "kill", prune=Killer(marker, once={a0}, always={b1}), executor="ray", max_retries=1)
    out = world["tmp"] / "kill"
    assert marker.read_text() == str(a0)  # it really died once
    (fail,) = json.loads((out / "failures.json").read_text())
    print(f"\nkilled: alpha seed 0 once (retried), beta seed 1 always; failures.json: {fail['error']}")
    assert (fail["set"], fail["seed"]) == ("beta@v1.0.0", 1)
    assert "died" in fail["error"] and fail["attempts"] == 2
    assert "beta@v1.0.0 seed 1" in (out / "report.md").read_text()
    expected = world["local"].filter(~((pl.col("set") == "beta@v1.0.0") & (pl.col("seed") == 1)))
    assert t.equals(expected)  # the retried draw's rows are the local run's
    retried = [f for f in facts(out) if (f["set"], f["seed"]) == ("alpha@v1.0.0", 0)]
    assert [f["attempt"] for f in retried] == [2]
    assert not list((out / "draws").glob(".*.tmp"))
    assert len(list((out / "draws").glob("*.json"))) == 3  # nothing left of the failed draw
    # The rerun runs the failed draw only; the table is then the local one, row for row.
    t2 = run(world, "kill", executor="ray")
    print(f"after the rerun: table {table_hash(t2)} (local {table_hash(world['local'])})")
    assert t2.equals(world["local"])
    assert json.loads((out / "failures.json").read_text()) == []


@pytest.fixture
def terminal_sigint():
    """A terminal's Ctrl-C: Python's own SIGINT handler, whatever the run inherited. A suite started
    in the background of a non-interactive shell (`make test &`) has SIGINT ignored, and
    interrupt_main does nothing under SIG_IGN: this test then saw no KeyboardInterrupt (twice, in
    CIs started that way). The handler before is put back after."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    if previous is not signal.default_int_handler:
        print(f"\nSIGINT handler before this test: {previous!r}")
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def test_ctrl_c_cancels_the_tasks_and_leaves_only_finished_draws(cluster, world, monkeypatch, terminal_sigint):
    monkeypatch.setenv("CURATE_CACHE", str(world["tmp"] / "cache-ctrlc"))
    out = world["tmp"] / "ctrlc"
    draws = out / "draws"

    def press_ctrl_c_after_first_draw():
        deadline = time.time() + 300
        while time.time() < deadline and not list(draws.glob("*.parquet")):
            time.sleep(0.2)
        time.sleep(1.0)  # the other task is asleep in its pruner by now
        _thread.interrupt_main()

    threading.Thread(target=press_ctrl_c_after_first_draw, daemon=True).start()
    t0 = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        run(world, "ctrlc", prune=SlowAfterFirst(world["tmp"] / "first"), executor="ray")
    print(f"\nCtrl-C to return: {time.perf_counter() - t0:.1f} s")
    assert len(list(draws.glob("*.parquet"))) == 1 and len(list(draws.glob("*.json"))) == 1
    assert not list(draws.glob(".*"))  # no temp file of a cancelled draw
    # The sleeping tasks are gone: they held both CPUs, so this rerun would wait 600 s otherwise.
    t0 = time.perf_counter()
    t = run(world, "ctrlc", executor="ray")
    assert time.perf_counter() - t0 < 300
    assert t.equals(world["local"])


def test_ray_tasks_load_the_model_by_name_through_the_cli(cluster, tmp_path, monkeypatch):
    """No model objects: each task (dense, draws) loads --model itself; same table as --executor local."""
    from click.testing import CliRunner

    from curate.cli.validate import validate as cmd
    from curate.models import load_tokenizer

    model_dir = tmp_path / "tiny-model"
    tok = load_tokenizer("smollm2-135m")
    tiny_llama(vocab_size=len(tok), hidden=32, layers=2, seed=0).save_pretrained(model_dir)
    tok.save_pretrained(model_dir)
    monkeypatch.setenv("CURATE_CACHE", str(tmp_path / "cache"))
    sets = [make_set(tmp_path / "sets", "alpha", 0)]
    text = tmp_path / "held.txt"
    text.write_text("The quick brown fox jumps over the lazy dog. " * 200)
    common = [*map(str, sets), "--model", str(model_dir), "--seeds", "2", "--tasks", "none", "--texts",
              f"{text}=literature", "--ppl-seq-len", "64", "--ppl-windows", "2", "--quiet"]
    tables = {}
    for ex in ("local", "ray"):
        res = CliRunner().invoke(cmd, [*common, "--executor", ex, "--out", str(tmp_path / ex)], catch_exceptions=False)
        assert res.exit_code == 0, res.output
        tables[ex] = pl.read_parquet(tmp_path / ex / "results.parquet")
    assert tables["ray"].height == 2 and tables["ray"].equals(tables["local"])
    assert torch.cuda.is_available() or all(":gpu" not in f["node"] for f in facts(tmp_path / "ray"))


def test_rebuilt_seed_draws_build_their_set_inside_the_task(cluster, tmp_path, monkeypatch):
    """--draw rebuild: a Ray task rebuilds its seed's set into --rebuild-dir; the set, and the rows,
    are those of a local run (builds are deterministic in recipe + seed + model)."""
    from curate.build import build_recipe
    from curate.context import RunContext
    from curate.models import ModelInfo, load_tokenizer
    from curate.recipe import load_recipe

    tok = load_tokenizer("smollm2-135m")  # from the usual cache (converted once), before the test's own
    monkeypatch.setenv("CURATE_CACHE", str(tmp_path / "cache"))
    model = tiny_llama(vocab_size=len(tok), hidden=32, layers=2, seed=0)
    info = ModelInfo("tiny", "local", "-", None, "tiny-sha", "tok")
    recipe = load_recipe(str(TESTS.parent / "recipes" / "wiki-windows.yaml"), ["n_samples=4", "seq_len=32"])
    built = build_recipe(recipe, tmp_path / "sets", seed=0, ctx=RunContext.from_objects(model, tok, info, progress=False),
                         progress=False)
    text = tmp_path / "held.txt"
    text.write_text("The quick brown fox jumps over the lazy dog. " * 200)
    tables = {}
    for ex in ("local", "ray"):
        cfg = ValidateConfig(sets=[str(built.path)], out=tmp_path / ex, seeds=2, draw="rebuild", progress=False,
                             rebuild_dir=tmp_path / f"rebuilt-{ex}", executor=ex,
                             eval=EvalConfig(texts=[str(text)], ppl_seq_len=64, ppl_windows=2, tasks=[]))
        tables[ex] = validate(cfg, model_objects=(model, tok, info), prune_fn=magnitude_prune, log=lambda m: None)
    assert tables["ray"].height == 2 and tables["ray"].equals(tables["local"])
    (seed1,) = [f for f in facts(tmp_path / "ray") if f["seed"] == 1]
    assert Path(seed1["path"]).is_relative_to(tmp_path / "rebuilt-ray")  # built by the task, where asked
    assert seed1["fingerprint"] != built.manifest["fingerprint"]  # seed 1 is another set than seed 0
