"""SIGKILL at random moments of ``curate build`` (including the write) and ``curate validate``.

    pytest tests/test_integrity_kill.py -m slow -s -q     # prints one summary line per command

Builds: each trial starts ``curate build`` in a subprocess and kills it (SIGKILL) either at a
uniformly drawn moment of an uninterrupted run, or at a drawn moment after its ``.tmp-*``
folder appears (i.e. during the write); then ``curate list`` must show only complete,
verified versions, a rerun must succeed (removing the dead run's ``.tmp-*``), and its
fingerprint must equal the uninterrupted build's. Validate: each trial kills ``curate
validate`` (3 draws) at a drawn moment; the rerun must report reusing exactly the draws whose
files the killed run finished, and its results table must equal the uninterrupted run's.
Kill times come from ``random.Random(11)``; ``CURATE_KILLS`` sets the trials per command.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from integrity_cases import chdir, make_base, recipe_text

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
KILLS = int(os.environ.get("CURATE_KILLS", "20"))
VALIDATE = ["validate", "out/small/v1.0.0", "--model", "model", "--tasks", "none", "--texts", "notes.txt",
            "--seeds", "3", "--nsamples", "4", "--ppl-seq-len", "64", "--ppl-windows", "2", "--quiet"]


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    old = os.environ.get("CURATE_CACHE")
    os.environ["CURATE_CACHE"] = str(cache)
    base = make_base(tmp_path_factory.mktemp("kill"))
    # A bigger set than the table's, so that the write itself takes a measurable time.
    (base / "big.yaml").write_text(recipe_text(base, name="big", seq_len=256, n=48,
                                               steps="[{type: sample, method: packing}]"))
    yield base
    if old is None:
        os.environ.pop("CURATE_CACHE", None)
    else:
        os.environ["CURATE_CACHE"] = old


def _env():
    return {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def _start(args, cwd):
    return subprocess.Popen([sys.executable, "-m", "curate", *args], cwd=cwd, env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _run_in_process(args, cwd) -> tuple[int, str]:
    from curate.cli import main

    out, err = io.StringIO(), io.StringIO()
    with chdir(cwd), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(args)
    return code, err.getvalue() + out.getvalue()


def _timed_run(args, cwd, watch: Path | None = None) -> tuple[float, float | None]:
    """(seconds of an uninterrupted subprocess run, seconds from the appearance of a .tmp-* folder
    under ``watch`` to the appearance of the finished version: the write itself)."""
    t0 = time.perf_counter()
    p = _start(args, cwd)
    tmp_at = done_at = None
    while p.poll() is None:
        names = [d.name for d in watch.iterdir()] if watch is not None and watch.is_dir() else []
        if tmp_at is None and any(n.startswith(".tmp-") for n in names):
            tmp_at = time.perf_counter()
        if tmp_at is not None and done_at is None and any(not n.startswith(".") for n in names):
            done_at = time.perf_counter()
        time.sleep(0.001)
    assert p.returncode == 0
    return time.perf_counter() - t0, (done_at - tmp_at if tmp_at and done_at else None)


def _kill_at(p: subprocess.Popen, when: float, t0: float) -> None:
    while p.poll() is None and time.perf_counter() - t0 < when:
        time.sleep(0.002)
    if p.poll() is None:
        p.send_signal(signal.SIGKILL)
    p.wait()


def test_sigkill_during_build(ws, tmp_path):
    from curate.sets.catalog import list_sets
    from curate.sets.fingerprint import verify_version

    args = ["build", "big.yaml", "--out", "out", "--quiet"]
    ref = tmp_path / "ref"
    ref.mkdir()
    for f in ("big.yaml", "docs.jsonl"):
        shutil.copy(ws / f, ref / f)
    total, write_s = _timed_run(args, ref, watch=ref / "out" / "big")
    expected = json.loads((ref / "out/big/v1.0.0/manifest.json").read_text())["fingerprint"]
    write_s = write_s or 0.5
    rng = random.Random(11)
    stats = {"killed": 0, "finished_anyway": 0, "tmp_left": 0, "during_write": 0, "version_left": 0}
    for i in range(KILLS):
        trial = tmp_path / f"t{i}"
        trial.mkdir()
        shutil.copy(ws / "big.yaml", trial)
        during_write = i % 2 == 1
        t0 = time.perf_counter()
        p = _start(args, trial)
        if during_write:  # wait for the .tmp-* folder, then kill within the write's duration
            while p.poll() is None and not ((trial / "out/big").is_dir() and
                                            any(d.name.startswith(".tmp-") for d in (trial / "out/big").iterdir())):
                time.sleep(0.001)
            _kill_at(p, time.perf_counter() - t0 + rng.uniform(0, write_s), t0)
        else:
            _kill_at(p, rng.uniform(0, total), t0)
        stats["killed" if p.returncode == -signal.SIGKILL else "finished_anyway"] += 1
        stats["during_write"] += during_write and p.returncode == -signal.SIGKILL
        names = sorted(d.name for d in (trial / "out/big").iterdir()) if (trial / "out/big").is_dir() else []
        stats["tmp_left"] += any(n.startswith(".tmp-") for n in names)
        stats["version_left"] += "v1.0.0" in names
        if (trial / "out").is_dir():  # what `curate list` shows: complete, verified versions only
            damaged: list = []
            rows = list_sets(trial / "out", damaged)
            assert not damaged and all(not r["version"].startswith(".") for r in rows)
            for r in rows:
                assert verify_version(r["path"]) == expected
        code, text = _run_in_process(args, trial)  # the rerun succeeds and cleans up
        assert code == 0, text
        assert sorted(d.name for d in (trial / "out/big").iterdir()) == ["v1.0.0"]
        assert json.loads((trial / "out/big/v1.0.0/manifest.json").read_text())["fingerprint"] == expected
    print(f"\nbuild: {KILLS} SIGKILLs (uninterrupted run {total:.1f} s, write: .tmp-* to version {write_s:.2f} s): {stats}; "
          f"after each, list showed only complete versions and the rerun gave fingerprint {expected[:12]}")
    assert stats["killed"] >= KILLS // 2 and stats["during_write"] >= 1 and stats["tmp_left"] >= 1


def test_sigkill_during_validate(ws, tmp_path):
    import polars as pl

    ref = tmp_path / "ref"
    shutil.copytree(ws, ref, symlinks=True)
    args = [*VALIDATE, "--out", "runs/v"]
    total, _ = _timed_run(args, ref)
    expected = pl.read_parquet(ref / "runs/v/results.parquet")
    rng = random.Random(11)
    resumed = []
    for i in range(KILLS):
        trial = tmp_path / f"t{i}"
        trial.mkdir()
        (trial / "out").symlink_to(ref / "out")
        (trial / "model").symlink_to(ws / "model")
        shutil.copy(ws / "notes.txt", trial)
        t0 = time.perf_counter()
        p = _start(args, trial)
        _kill_at(p, rng.uniform(0, total), t0)
        draws = trial / "runs/v/draws"
        finished = len(list(draws.glob("*.parquet"))) if draws.is_dir() else 0
        assert not list(draws.glob(".*.tmp")) or p.returncode == -signal.SIGKILL  # temp files only from a kill
        code, text = _run_in_process(args, trial)
        assert code == 0, text
        if finished:
            assert f"reusing {finished} finished draw(s)" in text, text
        else:
            assert "finished draw(s)" not in text
        got = pl.read_parquet(trial / "runs/v/results.parquet")
        assert got.select("set", "seed", "metric", "value").equals(expected.select("set", "seed", "metric", "value"))
        resumed.append(finished)
    print(f"\nvalidate: {KILLS} SIGKILLs (uninterrupted run {total:.1f} s); finished draws reused by the rerun: "
          f"{resumed}; every rerun's results equal the uninterrupted run's")


def test_two_identical_builds_at_once(ws, tmp_path):
    """Two `curate build` of the same recipe into one --out, started together: both exit 0,
    one writes v1.0.0 and the other reports it unchanged (rounds: CURATE_RACES, default 2)."""
    for i in range(int(os.environ.get("CURATE_RACES", "2"))):
        trial = tmp_path / f"r{i}"
        trial.mkdir()
        shutil.copy(ws / "big.yaml", trial)
        procs = [subprocess.Popen([sys.executable, "-m", "curate", "build", "big.yaml", "--out", "out", "--quiet"],
                                  cwd=trial, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]
        outs = [p.communicate(timeout=600) for p in procs]
        assert [p.returncode for p in procs] == [0, 0], [e for _, e in outs]
        verbs = sorted("unchanged" if "unchanged: identical content" in e else "built" for _, e in outs)
        assert verbs == ["built", "unchanged"], [e for _, e in outs]
        assert [o.strip() for o, _ in outs] == [str(Path("out/big/v1.0.0"))] * 2
        assert sorted(d.name for d in (trial / "out/big").iterdir()) == ["v1.0.0"]
