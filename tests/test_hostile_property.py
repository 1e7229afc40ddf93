"""Issue 21: generated hostile input thrown at ``build``, ``verify``, ``prune`` and ``validate``.

    pytest tests/test_hostile_property.py -q                 # the fast variant (~1 min)
    pytest tests/test_hostile_property.py -q -m slow         # the long variant (more examples)
    HOSTILE_EXAMPLES=500 pytest tests/test_hostile_property.py -q -m slow -s   # longer still

Hypothesis generates recipes (valid and broken YAML; fields set to NaN, inf, huge, negative,
empty or wrongly typed values), command-line flags and damaged files (truncated, bytes flipped,
replaced by garbage, deleted, symlinked out of the folder, JSON fields edited) and runs each
through ``curate.cli.main`` in a fresh copy of the ``integrity_cases`` workspace (tiny model,
30-document corpus, two built versions). Whatever it throws, these must hold:

- the exit code is 0 or 2, nothing is printed as a traceback, and a refusal is one ``error:`` line;
- a refusal changes nothing in the workspace; a success only adds files under its ``--out``
  (``verify`` and ``show`` add nothing anywhere);
- nothing half-written is left: no ``.tmp-*`` folder, and every version folder a build added
  verifies (complete, or absent).

Runs are derandomized (the same examples every time) so CI is reproducible; each test prints
how many examples it ran (``-s`` shows it).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from integrity_cases import ARROW, PARQUET, PRUNE, V1, V2, Case, run_case

FAST = {"build": 40, "verify": 40, "prune": 15, "validate": 8}  # examples per target, ~45 s in all
SLOW = int(os.environ.get("HOSTILE_EXAMPLES", "120"))


def _settings(n: int):
    return settings(max_examples=n, deadline=None, derandomize=True, database=None, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                           HealthCheck.data_too_large])


# --------------------------------------------------------------------------- values

EDGE_INTS = [-(2**63), -(2**31), -1, 0, 1, 2, 3, 7, 64, 1023, 1024, 1025, 10**9, 2**63, 10**30]
NUMBERS = st.one_of(st.sampled_from(EDGE_INTS), st.integers(-3, 300),
                    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([1e308, -0.0, 1e-300, 0.5]))
ODD = st.one_of(st.none(), st.booleans(), st.text(max_size=12), st.lists(st.integers(-2, 5), max_size=3),
                st.dictionaries(st.text(max_size=4), st.integers(-2, 5), max_size=2))
PLAUSIBLE = st.sampled_from([1, 2, 4, 8, 16, 32, 0.5, 2.0, "sample", "select", "random", "files", "cpu", "float32",
                             "bfloat16", "text", "id", "latin-1", 1000, 100000])
VALUES = st.one_of(NUMBERS, ODD, PLAUSIBLE)
# what a flag's value can be on the command line: numbers in every spelling, and junk
FLAG_TEXT = st.one_of(NUMBERS.map(str), st.sampled_from(["nan", "-inf", "inf", "1e309", "0x10", "", " ", "1,5",
                                                          "½", "-0", "+3"]), st.text(max_size=8))


# --------------------------------------------------------------------------- recipes

RECIPE_FIELDS = ["seed", "seq_len", "n_samples", "pool_size", "name", "description", "bogus_field",
                 "model.device", "model.dtype", "model.batch_size", "model.name",
                 "components.0.weight", "components.0.count", "components.0.name",
                 "components.0.source.text_field", "components.0.source.id_field",
                 "components.0.source.encoding", "components.0.source.max_doc_bytes",
                 "components.0.source.paths", "components.0.source.type",
                 "components.0.steps.0.oversample", "components.0.steps.0.type", "steps"]


def _valid_recipe(ws: Path) -> dict:
    return {"name": "small", "seed": 0, "seq_len": 64, "n_samples": 8, "model": {"name": str(ws / "model")},
            "components": [{"source": {"type": "files", "paths": [str(ws / "docs.jsonl")], "id_field": "id"},
                            "steps": [{"type": "sample"}]}]}


def _set(d: dict, dotted: str, value) -> None:
    parts = dotted.split(".")
    cur = d
    for p in parts[:-1]:
        cur = cur[int(p)] if isinstance(cur, list) else cur.setdefault(p, {})
    cur[int(parts[-1]) if isinstance(cur, list) else parts[-1]] = value


@st.composite
def recipes(draw) -> tuple[str, list[tuple[str, object]]]:
    """A recipe as YAML text with ``$WS`` for the workspace: 0-3 fields set to hostile values,
    then (sometimes) the text broken."""
    edits = draw(st.lists(st.tuples(st.sampled_from(RECIPE_FIELDS), VALUES), max_size=2))
    return draw(st.sampled_from(["dump", "dump", "dump", "cut", "insert", "garbage"])), edits


def render_recipe(ws: Path, kind: str, edits, cut: float, junk: str) -> str:
    d = _valid_recipe(ws)
    for field_, value in edits:
        _set(d, field_, value)
    text = yaml.safe_dump(d, allow_unicode=True, sort_keys=False)
    if kind == "cut":
        text = text[: int(len(text) * cut)]
    elif kind == "insert":
        at = int(len(text) * cut)
        text = text[:at] + junk + text[at:]
    elif kind == "garbage":
        text = junk
    return text


YAML_JUNK = st.one_of(st.text(max_size=30), st.sampled_from(
    [":", "[", "{", "- ", "\t", "!!python/object/apply:os.system [touch marker]", "&a [*a]", "*undefined",
     "? ", "%YAML 9.9\n---\n", "\x00", "name: small\nname: other\n", "<<: *x"]))


# --------------------------------------------------------------------------- damage

VERSION_FILES = ["manifest.json", "state.json", "dataset_info.json", ARROW, "README.md", PARQUET]


@st.composite
def damages(draw, files=tuple(VERSION_FILES)):
    """(kind, file, fraction, payload): what to do to one file of a version (or of the workspace)."""
    kind = draw(st.sampled_from(["none", "truncate", "flip", "garbage", "delete", "symlink-out", "json-edit",
                                 "empty", "extra-file"]))
    return (kind, draw(st.sampled_from(files)), draw(st.floats(0, 1)), draw(st.tuples(st.text(max_size=10), VALUES)))


def apply_damage(root: Path, damage) -> None:
    kind, rel, frac, (key, value) = damage
    f = root / rel
    if kind == "none" or not f.exists():
        return
    if kind == "truncate":
        f.write_bytes(f.read_bytes()[: int(f.stat().st_size * frac)])
    elif kind == "flip":
        data = bytearray(f.read_bytes())
        if data:
            at = min(int(len(data) * frac), len(data) - 1)
            data[at] ^= 0xFF
            f.write_bytes(bytes(data))
    elif kind == "garbage":
        f.write_bytes(os.urandom(1 + int(frac * 200)) if frac < 0.5 else key.encode() * 50)
    elif kind == "delete":
        f.unlink()
    elif kind == "empty":
        f.write_bytes(b"")
    elif kind == "symlink-out":
        outside = root.parent / "outside.bin"  # beside the version folder (or the workspace): out of it
        outside.write_bytes(f.read_bytes())
        f.unlink()
        f.symlink_to(outside)
    elif kind == "json-edit":
        try:
            d = json.loads(f.read_text())
        except (ValueError, UnicodeDecodeError):
            return
        if isinstance(d, dict):
            target = key if key or not d else sorted(d)[int(frac * (len(d) - 1))]
            d[target] = value
            f.write_text(json.dumps(d, allow_nan=True))
    elif kind == "extra-file":
        (f.parent / (key.replace("/", "_").replace("\x00", "") or "x.bin")).write_bytes(b"extra")


# --------------------------------------------------------------------------- the invariants


def run_hostile(argv: list[str], out: str | None, setup, base: Path, counter: dict,
                also: tuple[str, ...] = ()) -> None:
    """Run one command; ``also``: changes a success may make besides adding under ``out``."""
    work = Path(tempfile.mkdtemp(prefix="hostile-"))
    try:
        case = Case("x", argv, 0, "", damage=setup)
        t0 = time.perf_counter()
        r = run_case(case, base, work)
        dt = time.perf_counter() - t0
        counter["seconds"] = counter.get("seconds", 0.0) + dt
        if dt > counter.get("slowest", (0.0, ""))[0]:
            counter["slowest"] = (dt, " ".join(argv))
        ws = work / "x"
        counter["examples"] = counter.get("examples", 0) + 1
        counter[r.code] = counter.get(r.code, 0) + 1
        shown = f"curate {' '.join(argv)}\n" + "\n".join(r.lines[-8:])
        assert r.traceback is None, f"{shown}\n{r.traceback}"
        assert r.code in (0, 2), shown
        errors = [ln for ln in r.lines if ln.startswith("error:")]
        if r.code == 2:
            assert len(errors) == 1, shown  # one line, and it is the error
            assert r.left == [], f"a refusal left files: {r.left}\n{shown}"
        else:
            assert not errors, shown
            for entry in r.left:
                assert entry in also or (out is not None and entry.startswith(f"+{out.rstrip('/')}/")), \
                    f"changed outside --out {out}: {entry}\n{shown}"
        tmp = [p for p in ws.rglob(".tmp-*")]
        assert not tmp, f"half-written folders left: {tmp}\n{shown}"
        _added_versions_verify(ws, r.left)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _added_versions_verify(ws: Path, left: list[str]) -> None:
    """Every version folder the command added is complete: it verifies."""
    from curate.sets.fingerprint import verify_version
    from curate.sets.layout import is_version_dir

    added = {ws / e[1:].split("/manifest.json")[0] for e in left if e.startswith("+") and e.endswith("/manifest.json")}
    for v in added:
        if is_version_dir(v):
            verify_version(v)  # raises DamagedSetError on anything short of complete


# --------------------------------------------------------------------------- the targets


def _build(base, data, counter) -> None:
    kind, edits = data.draw(recipes())
    cut, junk = data.draw(st.floats(0, 1)), data.draw(YAML_JUNK)
    src_damage = data.draw(damages(files=("docs.jsonl",)))
    flags = data.draw(st.lists(st.one_of(
        st.tuples(st.just("--seed"), FLAG_TEXT), st.tuples(st.just("--device"), st.sampled_from(
            ["cpu", "cuda", "cuda:7", "banana", "", "meta", "cpu:0", "mps"])),
        st.tuples(st.just("--version"), st.sampled_from(["v1.0.0", "v9.0.0", "x", "../up", "", "v1"])),
        st.tuples(st.just("--set"), st.tuples(st.sampled_from(RECIPE_FIELDS), FLAG_TEXT).map("=".join))),
        max_size=2))
    out = data.draw(st.sampled_from(["out", "fresh", "out/small/v1.0.0", "docs.jsonl"]))

    def setup(ws):
        ws.write("r.yaml", render_recipe(ws.dir, kind, edits, cut, junk))
        apply_damage(ws.dir, src_damage)

    argv = ["build", "r.yaml", "--out", out, "--quiet"] + [x for f in flags for x in f]
    run_hostile(argv, out, setup, base, counter)


def _verify(base, data, counter) -> None:
    dmg = data.draw(st.lists(st.tuples(st.sampled_from([V1, V2]), damages()), min_size=1, max_size=2))
    argv = data.draw(st.sampled_from([["verify", V1], ["verify", "out"], ["verify", "out/small"], ["show", V1],
                                      ["list", "out"], ["verify", V2, V1]]))

    def setup(ws):
        for version, d in dmg:
            apply_damage(ws.p(version), d)

    run_hostile(argv, None, setup, base, counter)


def _prune(base, data, counter) -> None:
    method = data.draw(st.sampled_from(["magnitude", "wanda", "sparsegpt", "banana", ""]))
    flags = data.draw(st.lists(st.one_of(
        st.tuples(st.just("--sparsity"), FLAG_TEXT),
        st.tuples(st.just("--pattern"), st.one_of(st.sampled_from(
            ["unstructured", "2:4", "4:8", "2:5", "0:4", "4:2", "4:4", "a:b", "-1:4", "1:0", "2:4:8", ""]),
            st.text(max_size=5))),
        st.tuples(st.just("--nsamples"), FLAG_TEXT), st.tuples(st.just("--percdamp"), FLAG_TEXT),
        st.tuples(st.just("--blocksize"), FLAG_TEXT), st.tuples(st.just("--seq-len"), FLAG_TEXT),
        st.tuples(st.just("--device"), st.sampled_from(["cpu", "banana", "cuda:3", ""]))), max_size=3))
    cal_damage = data.draw(damages())
    out = data.draw(st.sampled_from(["runs/p", "out/small/v1.0.0", "notes.txt", "runs/p/"]))
    argv = [*PRUNE[:4], method, *PRUNE[5:-1], "--calibration", V1, "--out", out, "--quiet"] + [x for f in flags for x in f]
    run_hostile(argv, out, lambda ws: apply_damage(ws.p(V1), cal_damage), base, counter)


def _validate(base, data, counter) -> None:
    flags = data.draw(st.lists(st.one_of(
        st.tuples(st.just("--nsamples"), FLAG_TEXT), st.tuples(st.just("--ppl-seq-len"), FLAG_TEXT),
        st.tuples(st.just("--ppl-windows"), FLAG_TEXT), st.tuples(st.just("--sparsity"), FLAG_TEXT),
        st.tuples(st.just("--method"), st.sampled_from(["magnitude", "wanda", "banana"])),
        st.tuples(st.just("--pattern"), st.sampled_from(["2:4", "3:7", "x"])),
        st.tuples(st.just("--seeds"), st.sampled_from(["0", "1", "2", "-1", "nan", "x"])),
        st.tuples(st.just("--texts"), st.sampled_from(["notes.txt", "bad.txt", "bad.txt=code", "notes.txt=astrology",
                                                       "nope.txt", "docs.jsonl"]))), max_size=3))
    text_damage = data.draw(damages(files=("bad.txt",)))
    cal_damage = data.draw(damages())
    base_flags = ["validate", "--model", "model", "--tasks", "none", "--texts", "notes.txt", "--seeds", "1",
                  "--nsamples", "2", "--ppl-seq-len", "32", "--ppl-windows", "1", "--quiet"]

    def setup(ws):
        ws.write("bad.txt", (ws.p("notes.txt")).read_text())
        apply_damage(ws.dir, text_damage)
        apply_damage(ws.p(V1), cal_damage)

    # validate records its result in the set it measured (documented: extras + the card's section)
    also = (f"+{V1}/extras/validation.json", f"~{V1}/extras/validation.json", f"~{V1}/README.md",
            f"+{V1}/README.md")  # a deleted card is rendered again
    run_hostile([*base_flags, *[x for f in flags for x in f], V1, "--out", "runs/v"], "runs/v", setup, base, counter,
                also)


TARGETS = {"build": _build, "verify": _verify, "prune": _prune, "validate": _validate}


def _run(target: str, n: int, base) -> dict:
    counter: dict = {}

    @_settings(n)
    @given(data=st.data())
    def prop(data):
        TARGETS[target](base, data, counter)

    prop()
    print(f"\nhostile {target}: {counter.get('examples', 0)} examples run, "
          f"exit 0: {counter.get(0, 0)}, exit 2: {counter.get(2, 0)}; {counter.get('seconds', 0):.1f} s in the "
          f"commands, slowest {counter.get('slowest', (0, ''))[0]:.1f} s: {counter.get('slowest', (0, ''))[1][:300]}")
    return counter


@pytest.mark.parametrize("target", list(TARGETS))
def test_hostile_input_fast(target, integrity_base, monkeypatch):
    monkeypatch.setattr("huggingface_hub.get_token", lambda: None)
    counter = _run(target, FAST[target], integrity_base)
    assert counter.get("examples", 0) >= FAST[target] // 2  # hypothesis really ran them


@pytest.mark.slow
@pytest.mark.parametrize("target", list(TARGETS))
def test_hostile_input_long(target, integrity_base, monkeypatch):
    monkeypatch.setattr("huggingface_hub.get_token", lambda: None)
    counter = _run(target, SLOW, integrity_base)
    assert counter.get("examples", 0) >= SLOW // 2
