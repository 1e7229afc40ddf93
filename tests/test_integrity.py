"""Issue 11: a set on disk is exactly what its manifest says, or a one-line error.

    pytest tests/test_integrity.py -q                   # the table of cases + unit tests
    python tests/integrity_table.py                     # the same table, printed as markdown

Every row of ``integrity_cases.CASES`` runs one ``curate`` command against one kind of damage
and checks exit code, the one ``error:`` line (its fragment), no traceback, and the files left
(none for a refusal).
"""

from __future__ import annotations

import fnmatch
import json
import os
import time

import pytest
from integrity_cases import CASES, V1, V2, Workspace, can_mount, rewrite_arrow, run_case

MOUNT_OK = can_mount()


@pytest.fixture(scope="session")
def base(integrity_base):
    return integrity_base


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(case, base, tmp_path, monkeypatch):
    if case.mount and not MOUNT_OK:
        pytest.skip("needs to mount a tmpfs (root) for a really read-only or full disk")
    monkeypatch.setattr("huggingface_hub.get_token", lambda: None)
    r = run_case(case, base, tmp_path)
    assert r.traceback is None, r.traceback
    assert r.code == case.code, r.lines
    errors = [ln for ln in r.lines if ln.startswith("error:")]
    if case.code != 0:
        assert len(errors) == 1, r.lines  # one line, and it is the error
        assert case.fragment in errors[0], errors[0]
        assert r.left == [], f"a refusal left files: {r.left}"
    else:
        assert not errors, r.lines
        assert any(case.fragment in ln for ln in r.lines), r.lines
        for entry in r.left:
            assert any(fnmatch.fnmatch(entry, g) for g in case.left), f"unexpected change {entry}"
        for g in case.left:
            assert any(fnmatch.fnmatch(e, g) for e in r.left), f"expected a change matching {g}"
    if case.shows:
        assert any(case.shows in ln for ln in r.lines), r.lines


def test_table_has_at_least_60_kinds():
    assert len(CASES) >= 60 and len({c.id for c in CASES}) == len(CASES)
    assert sum(c.new and c.issue == 11 for c in CASES) >= 40


def test_issue_21_adds_at_least_40_kinds():
    assert sum(c.issue == 21 for c in CASES) >= 40


# --------------------------------------------------------------------------- unit tests


def test_verdict_is_cached_and_invalidated_by_a_change(base, tmp_path):
    import shutil

    from curate.sets.fingerprint import _memo, verify_version

    shutil.copytree(base / "out", tmp_path / "out")
    v = tmp_path / V1
    fp = verify_version(v)
    assert fp == json.loads((v / "manifest.json").read_text())["fingerprint"]
    _memo.clear()
    calls = []
    import curate.sets.fingerprint as f

    orig = f.fingerprint_batches
    f.fingerprint_batches = lambda b, lengths=None: calls.append(1) or orig(b, lengths)
    try:
        assert verify_version(v) == fp and calls == []  # from the disk cache: no rehash
        rewrite_arrow(Workspace(tmp_path), V1)
        with pytest.raises(f.DamagedSetError, match="hash to"):
            verify_version(v)
        assert calls  # the change of size/mtime forced a rehash
    finally:
        f.fingerprint_batches = orig


def test_hidden_tmp_folders_are_never_versions(base, tmp_path):
    import shutil

    from curate.sets.hub import set_versions
    from curate.sets.layout import is_version_dir
    from curate.sets.read import resolve_set_path

    shutil.copytree(base / "out", tmp_path / "out")
    tmp = tmp_path / "out/small/.tmp-1-abc"
    shutil.copytree(tmp_path / V2, tmp)
    assert not is_version_dir(tmp)
    assert resolve_set_path(tmp_path / "out/small") == tmp_path / V2
    assert [p.name for p in set_versions(tmp_path / "out/small")] == ["v1.0.0", "v2.0.0"]


def test_stale_tmp_removed_only_when_owner_is_gone(tmp_path):
    from curate.sets.write import remove_stale_tmp

    mine = tmp_path / f".tmp-{os.getpid()}-aaaa"
    dead = tmp_path / ".tmp-999999-bbbb"
    for d in (mine, dead):
        d.mkdir()
    assert remove_stale_tmp(tmp_path) == [dead]
    assert mine.exists() and not dead.exists()


def test_stale_tmp_of_another_host_is_judged_by_age_not_by_pid(tmp_path):
    """Writers on two nodes share a folder (Ray tasks rebuilding seeds): a pid of the other host
    that does not exist here says nothing; its folder goes only once it is old."""
    from curate.sets.write import STALE_UNOWNED_S, _host_tag, remove_stale_tmp

    other = "h" + ("0" * 8 if _host_tag() != "h" + "0" * 8 else "1" * 8)
    fresh, old = tmp_path / f".tmp-999999-{other}-aaaa", tmp_path / f".tmp-999998-{other}-bbbb"
    here_dead = tmp_path / f".tmp-999997-{_host_tag()}-cccc"
    for d in (fresh, old, here_dead):
        d.mkdir()
    os.utime(old, (time.time() - STALE_UNOWNED_S - 60,) * 2)
    assert sorted(remove_stale_tmp(tmp_path)) == sorted([old, here_dead])
    assert fresh.exists()


def test_write_is_fsynced_before_the_rename(tmp_path, monkeypatch):
    import curate.sets.write as w
    from curate.records import Sample

    events = []
    monkeypatch.setattr(w, "_fsync_tree", lambda p: events.append(("fsync-tree", p.name)))
    real_rename = os.rename
    monkeypatch.setattr(w.os, "rename", lambda a, b: (events.append(("rename", os.path.basename(b))), real_rename(a, b)))
    w.write_version([Sample(text="a", source="s", doc_id="d", input_ids=[1, 2])], {}, tmp_path, "x")
    assert [e[0] for e in events] == ["fsync-tree", "rename"] and events[0][1].startswith(".tmp-")


def test_concurrent_identical_writes_both_succeed(tmp_path):
    """Two writers of the same content race for v1.0.0: one writes it, the other reports it."""
    import threading

    from curate.records import Sample
    from curate.sets.write import write_version

    samples = [Sample(text=f"t{i}", source="s", doc_id=f"d{i}", input_ids=[i, 1]) for i in range(4)]
    results, errors = [], []
    barrier = threading.Barrier(2)

    def go():
        barrier.wait()
        try:
            results.append(write_version(samples, {}, tmp_path, "x"))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(existed for _, existed in results) == [False, True]
    assert {p for p, _ in results} == {tmp_path / "x" / "v1.0.0"}
    assert sorted(p.name for p in (tmp_path / "x").iterdir()) == ["v1.0.0"]


def test_extras_and_cards_respect_the_umask(base, tmp_path):
    import shutil

    from curate.sets.card import rerender_card

    shutil.copytree(base / "out", tmp_path / "out")
    old = os.umask(0o022)
    try:
        card = rerender_card(tmp_path / V1)
    finally:
        os.umask(old)
    assert card.stat().st_mode & 0o777 == 0o644


def test_duplicate_keys_inside_nested_mappings(tmp_path):
    from curate.errors import RecipeError
    from curate.yamlio import read_yaml

    f = tmp_path / "r.yaml"
    f.write_text("model:\n  name: a\n  name: b\n")
    with pytest.raises(RecipeError, match=r"duplicate key 'name' \(first on line 2\)"):
        read_yaml(f)
    f.write_text("base: &b {x: 1}\nother:\n  <<: *b\n  y: 2\n")  # merge keys are not duplicates
    assert read_yaml(f)["other"] == {"x": 1, "y": 2}


def test_empty_documents_are_counted_in_drop_reasons(tmp_path):
    from curate.sources.files import FilesSource

    f = tmp_path / "d.jsonl"
    f.write_text('{"text": "hello"}\n{"text": ""}\n{"text": null}\n{"text": "  "}\n')
    src = FilesSource([str(f)])
    assert [t for _, _, t in src.documents()] == ["hello"]
    assert src.dropped == {"empty_text": 3}


def test_quiet_hides_loading_bars(base):
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.getcwd(), *sys.path])}
    code = ("import sys; from curate.cli import main; from curate.models import load_model; "
            "main(['list', 'out', '--quiet']); load_model('model')")
    res = subprocess.run([sys.executable, "-c", code], cwd=base, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "Loading weights" not in res.stderr


def test_verify_cli_on_a_version_and_a_folder(base, tmp_path):
    import shutil

    from click.testing import CliRunner

    from curate.cli.catalog import verify

    shutil.copytree(base / "out", tmp_path / "out")
    res = CliRunner().invoke(verify, [str(tmp_path / V1), "--no-cache"])
    assert res.exit_code == 0 and res.stdout.startswith("ok ")
    rewrite_arrow(Workspace(tmp_path), V2)
    res = CliRunner().invoke(verify, [str(tmp_path / "out"), "--json"])
    assert res.exit_code != 0
    assert [r["ok"] for r in json.loads(res.stdout)] == [True, False]


def test_validation_extras_respect_the_umask(tmp_path):
    from curate.files import atomic_json as _atomic_json

    old = os.umask(0o027)
    try:
        _atomic_json(tmp_path / "extras" / "validation.json", {"a": 1})
    finally:
        os.umask(old)
    assert (tmp_path / "extras" / "validation.json").stat().st_mode & 0o777 == 0o640


def test_skipped_documents_reach_the_manifest(tmp_path, tiny_lm):
    from curate.build import build_recipe
    from curate.context import RunContext
    from curate.models import ModelInfo, tokenizer_fingerprint
    from curate.recipe import parse_recipe

    model, tok = tiny_lm
    info = ModelInfo("tiny", "local", "/tiny", None, "0" * 64, tokenizer_fingerprint(tok))
    ctx = RunContext.from_objects(model, tok, info, progress=False)

    f = tmp_path / "d.jsonl"
    rows = [{"text": " ".join(["word"] * 200)}] * 3 + [{"text": ""}, {"text": "   "}]
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    rec = parse_recipe({"name": "t", "seq_len": 16, "n_samples": 2,
                        "components": [{"source": {"type": "files", "paths": [str(f)]}}]})
    res = build_recipe(rec, tmp_path / "out", ctx=ctx, progress=False)
    src = next(s for s in res.manifest["steps"] if s["kind"] == "source")
    assert src["seen"] == 5 and src["kept"] == 3 and src["reasons"] == {"empty_text": 2}


def test_absolute_version_writes_nothing_anywhere(base, tmp_path):
    from integrity_cases import run_case

    case = next(c for c in CASES if c.id == "version-absolute")
    target = case.argv[case.argv.index("--version") + 1]
    assert not os.path.exists(target)
    r = run_case(case, base, tmp_path)
    assert r.code == 2 and not os.path.exists(target)


def test_generation_cost_is_warned_before_any_work(base, tmp_path, monkeypatch):
    """Issue 21: a `generate` with a big oversample says what it will cost (tokens, hours, the knob)
    before the first component runs; here the first component's work stops the build."""
    from integrity_cases import Case, recipe_text

    from curate.errors import CurateError

    started = []

    def first_work(*a, **k):
        started.append(1)
        raise CurateError("stopped at the first component (test)")

    monkeypatch.setattr("curate.build.run_component", first_work)

    def recipe(ws):
        ws.write("r.yaml", recipe_text(ws.dir, steps="[{type: generate, oversample: 1000}]"))

    r = run_case(Case("gen-warn", ["build", "r.yaml", "--out", "out", "--quiet"], 2, "", recipe), base, tmp_path)
    assert r.traceback is None and r.code == 2 and started == [1], r.lines
    warn = [i for i, ln in enumerate(r.lines) if ln.startswith("warning: component")]
    err = [i for i, ln in enumerate(r.lines) if ln.startswith("error:")]
    assert len(warn) == 1 and err and warn[0] < err[0], r.lines
    # 8 rows x 1000 oversample x 64 tokens at the measured 64 tokens/s: 512,000 tokens, 2.2 h
    assert "generates about 512,000 tokens: about 2.2 h" in r.lines[warn[0]], r.lines[warn[0]]
    assert "lower 'oversample' of component" in r.lines[warn[0]]
    assert r.left == []


def test_generation_of_a_small_oversample_is_not_warned(base, tmp_path, monkeypatch):
    from integrity_cases import Case, recipe_text

    from curate.errors import CurateError

    monkeypatch.setattr("curate.build.run_component", lambda *a, **k: (_ for _ in ()).throw(CurateError("stop")))
    r = run_case(Case("gen-nowarn", ["build", "r.yaml", "--out", "out", "--quiet"], 2, "", lambda ws: ws.write(
        "r.yaml", recipe_text(ws.dir, steps="[{type: generate, oversample: 2}]"))), base, tmp_path)
    assert r.code == 2 and not any(ln.startswith("warning:") for ln in r.lines), r.lines
