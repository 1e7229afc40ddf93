"""Issue 11's table: (command, damage) -> (exit code, error line, files left), one row per kind of
bad input or damage. Imported by ``tests/test_integrity.py`` (one test per row, so none can
regress) and by ``tests/integrity_table.py`` (prints the markdown table).

Every case runs ``curate.cli.main(argv)`` in-process (imports are paid once) in a fresh copy of
a small workspace: a tiny random Llama saved as a local model folder (byte tokenizer, 1024
positions), a 30-document jsonl corpus, the recipe ``small.yaml`` (8 x 64 tokens) and two built
versions ``out/small/v1.0.0`` and ``v2.0.0``. A case's ``damage`` edits that copy first. "Files
left" is every path added, removed or changed under the workspace by the command; for a
refusal it must be empty. Cases marked ``mount`` need to mount a tmpfs (root), to get a really
read-only or really full ``--out``; they are skipped where that is not possible.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

V1 = "out/small/v1.0.0"
V2 = "out/small/v2.0.0"
ARROW = "data-00000-of-00001.arrow"
PARQUET = "data/train-00000-of-00001.parquet"
PRUNE = ["prune", "--model", "model", "--method", "magnitude", "--sparsity", "0.5", "--quiet"]
VALIDATE = ["validate", "--model", "model", "--tasks", "none", "--texts", "notes.txt", "--seeds", "1",
            "--nsamples", "2", "--ppl-seq-len", "32", "--ppl-windows", "1", "--quiet"]
SCORE = ["score", "--scores", "ngram_aggregation", "--quiet"]
WORDS = ("the of and to in a is that for it as was with be by on not he this are or his from at which "
         "river stone light quiet summer north paper garden window music").split()


def recipe_text(ws: Path, *, name: str = "small", seq_len: int = 64, n: int = 8, source: str | None = None,
                extra: str = "", steps: str = "[{type: sample}]") -> str:
    source = source or f"{{type: files, paths: [{ws / 'docs.jsonl'}], id_field: id}}"
    return (f"name: {name}\nseed: 0\nseq_len: {seq_len}\nn_samples: {n}\nmodel: {{name: {ws / 'model'}}}\n{extra}"
            f"components:\n  - source: {source}\n    steps: {steps}\n")


def make_base(root: Path) -> Path:
    """The shared workspace every case copies: model, corpus, recipe, two built versions."""
    from tiny_models import TINY_VOCAB, tiny_llama, tiny_tokenizer

    from curate.cli import main

    root.mkdir(parents=True, exist_ok=True)
    tiny_llama(vocab_size=TINY_VOCAB, hidden=32, layers=2, max_pos=1024).save_pretrained(root / "model")
    tiny_tokenizer().save_pretrained(root / "model")
    rng = random.Random(0)
    with (root / "docs.jsonl").open("w") as f:
        for i in range(30):
            f.write(json.dumps({"id": f"d{i}", "text": " ".join(rng.choice(WORDS) for _ in range(120))}) + "\n")
    (root / "notes.txt").write_text(" ".join(rng.choice(WORDS) for _ in range(400)))
    (root / "small.yaml").write_text(recipe_text(root))
    for seed in ("0", "1"):
        with _quiet(), chdir(root):
            code = main(["build", "small.yaml", "--out", "out", "--seed", seed, "--quiet"])
        assert code == 0, f"base build failed ({code})"
    return root


@contextlib.contextmanager
def _quiet():
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield


@contextlib.contextmanager
def chdir(path: Path):
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


# --------------------------------------------------------------------------- a case's workspace


@dataclass
class Workspace:
    dir: Path
    cleanups: list[Callable[[], None]] = field(default_factory=list)

    def p(self, rel: str) -> Path:
        return self.dir / rel

    def write(self, rel: str, data: str | bytes) -> Path:
        f = self.p(rel)
        f.parent.mkdir(parents=True, exist_ok=True)
        (f.write_bytes if isinstance(data, bytes) else f.write_text)(data)  # type: ignore[operator]
        return f

    def recipe(self, rel: str = "r.yaml", **kw) -> Path:
        return self.write(rel, recipe_text(self.dir, **kw))

    def mount(self, rel: str, opts: str) -> Path:
        """A tmpfs at ``rel`` (e.g. ``ro`` or ``size=64k``): a really read-only or small disk."""
        target = self.p(rel)
        target.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(target)], check=True,
                       capture_output=True)
        self.cleanups.append(lambda: subprocess.run(["umount", "-l", str(target)], check=False))
        return target

    def fill(self, rel: str) -> None:
        """Fill the filesystem holding ``rel`` up to the last byte."""
        with contextlib.suppress(OSError), open(self.p(rel) / ".filler", "wb") as f:
            while True:
                f.write(b"\0" * 4096)
                f.flush()


def can_mount() -> bool:
    import tempfile

    d = tempfile.mkdtemp(prefix="curate-mnt-")
    try:
        ok = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", d], capture_output=True).returncode == 0
        if ok:
            subprocess.run(["umount", d], check=False)
        return ok
    except FileNotFoundError:
        return False
    finally:
        os.rmdir(d)


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if Path(dirpath) == root and "model" in dirnames:
            dirnames.remove("model")  # a symlink to the shared model, never written
        for name in filenames + [d for d in dirnames if not os.listdir(Path(dirpath) / d)]:
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            if rel.endswith(".filler"):
                continue
            with contextlib.suppress(OSError):
                st = p.lstat()
                out[rel + ("/" if p.is_dir() else "")] = (st.st_size, st.st_mtime_ns)
    return out


def changes(before: dict, after: dict) -> list[str]:
    added = [f"+{k}" for k in sorted(after.keys() - before.keys())]
    removed = [f"-{k}" for k in sorted(before.keys() - after.keys())]
    changed = [f"~{k}" for k in sorted(k for k in before.keys() & after.keys() if before[k] != after[k])]
    return added + removed + changed


# --------------------------------------------------------------------------- damage helpers


def rewrite_arrow(ws: Workspace, version: str = V1, edit=None) -> None:
    """Rewrite a version's arrow file with ``edit(rows)`` applied (content changed, same format)."""
    import pyarrow as pa

    f = ws.p(version) / ARROW
    with pa.memory_map(str(f)) as src:
        table = pa.ipc.open_stream(src).read_all()
    rows = table.to_pylist()
    (edit or _edit_one_row)(rows)
    new = pa.Table.from_pylist(rows, schema=table.schema)
    with pa.OSFile(str(f) + ".new", "wb") as sink, pa.ipc.new_stream(sink, new.schema) as w:
        w.write_table(new)
    os.replace(str(f) + ".new", f)


def _edit_one_row(rows):
    rows[3]["text"] = rows[3]["text"] + " (edited)"
    rows[3]["input_ids"] = list(reversed(rows[3]["input_ids"]))


def rewrite_parquet(ws: Workspace, version: str = V1) -> None:
    import pyarrow.parquet as pq

    f = ws.p(version) / PARQUET
    rows = pq.read_table(f).to_pylist()
    _edit_one_row(rows)
    import pyarrow as pa

    pq.write_table(pa.Table.from_pylist(rows), f)


def edit_manifest(ws: Workspace, version: str = V1, **fields) -> None:
    f = ws.p(version) / "manifest.json"
    m = json.loads(f.read_text())
    m.update(fields)
    f.write_text(json.dumps(m, indent=2))


def truncate(ws: Workspace, rel: str, keep: float = 0.5) -> None:
    f = ws.p(rel)
    data = f.read_bytes()
    f.write_bytes(data[: int(len(data) * keep)])


def fake_killed_write(ws: Workspace, name: str = "small") -> None:
    """What SIGKILL during a write leaves: a hidden .tmp-<dead pid>-* folder with a whole
    version's files in it (the worst case: killed just before the rename)."""
    tmp = ws.p(f"out/{name}/.tmp-999999-deadbeef")
    shutil.copytree(ws.p(V2), tmp)
    m = json.loads((tmp / "manifest.json").read_text())
    m.update(version="v3.0.0", created_at="2099-01-01T00:00:00Z")  # would sort as "latest"
    (tmp / "manifest.json").write_text(json.dumps(m))


def _bad(ws: Workspace, rel: str, data: bytes | str, **recipe_kw) -> None:
    ws.write(rel, data)
    ws.recipe(source=f"{{type: files, paths: [{ws.p(rel)}]}}", **recipe_kw)


# --------------------------------------------------------------------------- the cases


@dataclass
class Case:
    id: str
    argv: list[str]
    code: int
    fragment: str  # must occur in the error line (or in the output, for successes)
    damage: Callable[[Workspace], None] | None = None
    left: tuple[str, ...] = ()  # for successes: globs every change must match (empty: no change)
    new: bool = True  # a kind of damage issue 11 found (False: one of the ~40 already handled)
    mount: bool = False
    shows: str = ""  # also printed (any line), e.g. what a command did before refusing
    issue: int = 11  # the issue that found this kind (21: the second round of hostile input)

    @property
    def command(self) -> str:
        return "curate " + " ".join(self.argv)


def C(id, argv, code, fragment, damage=None, left=(), new=True, mount=False, shows="", issue=11):  # noqa: N802 - a row
    return Case(id, argv.split() if isinstance(argv, str) else argv, code, fragment, damage, tuple(left), new, mount,
                shows, issue)


def R2(id, argv, code, fragment, damage=None, **kw):  # noqa: N802 - a row of issue 21
    return C(id, argv, code, fragment, damage, issue=21, **kw)


def _rec(**kw):
    return lambda ws: ws.recipe(**kw)


def _yaml(text):
    return lambda ws: ws.write("r.yaml", text.replace("$WS", str(ws.dir)))


def _seq(fn, *more):
    def run(ws):
        fn(ws)
        for m in more:
            m(ws)
    return run


OLD = False
CASES: list[Case] = [
    # ---- the ~40 kinds already refused before this issue (recipes, flags, paths) --------------
    C("recipe-missing", "build nope.yaml --out out", 2, "recipe nope.yaml does not exist", new=OLD),
    C("recipe-unknown-field", "build r.yaml --out out", 2, "field 'colour': unknown field",
      _rec(extra="colour: red\n"), new=OLD),
    C("recipe-not-mapping", "build r.yaml --out out", 2, "a recipe must be a YAML mapping", _yaml("- a\n- b\n"), new=OLD),
    C("recipe-bad-yaml", "build r.yaml --out out", 2, "is not valid YAML", _yaml("name: [unclosed\n"), new=OLD),
    C("recipe-bad-literal", "build r.yaml --out out", 2, "unknown sampler 'spiral'",
      _rec(steps="[{type: sample, method: spiral}]"), new=OLD),
    C("recipe-n-samples-0", "build r.yaml --out out", 2, "field 'n_samples'", _rec(n=0), new=OLD),
    C("recipe-seq-len-1", "build r.yaml --out out", 2, "field 'seq_len'", _rec(seq_len=1), new=OLD),
    C("recipe-name-slash", "build r.yaml --out out", 2, "field 'name'", _rec(name="a/b"), new=OLD),
    C("recipe-unknown-source-type", "build r.yaml --out out", 2, "unknown source type 'ftp'",
      _rec(source="{type: ftp, path: x}"), new=OLD),
    C("recipe-source-missing", "build r.yaml --out out", 2, "does not exist",
      _rec(source="{type: files, paths: [/nonexistent/x.jsonl]}"), new=OLD),
    C("recipe-source-bad-ext", "build r.yaml --out out", 2, "unsupported type '.docx'",
      lambda ws: (ws.write("a.docx", "x"), ws.recipe(source=f"{{type: files, paths: [{ws.p('a.docx')}]}}")), new=OLD),
    C("recipe-two-producers", "build r.yaml --out out", 2, "needs exactly one 'chat' or 'ebss' or 'generate' or 'sample' step",
      _rec(steps="[{type: sample}, {type: sample}]"), new=OLD),
    C("recipe-filter-after-producer", "build r.yaml --out out", 2, "must come before",
      _rec(steps="[{type: sample}, {type: length_filter, min_chars: 3}]"), new=OLD),
    C("recipe-select-without-by", "build r.yaml --out out", 2, "'by' is required",
      _rec(extra="pool_size: 10\nsteps: [{type: select}]\n"), new=OLD),
    C("recipe-pool-lt-n", "build r.yaml --out out", 2, "pool_size must be >= n_samples",
      _rec(extra="pool_size: 4\n"), new=OLD),
    C("recipe-pool-without-select", "build r.yaml --out out", 2, "needs a set-level 'cola' or 'expert_balanced' or 'igsp' or 'select' or 'zipcal' step",
      _rec(extra="pool_size: 12\n"), new=OLD),
    C("recipe-set-level-producer", "build r.yaml --out out", 2, "belongs inside a component",
      _rec(extra="steps: [{type: sample}]\n"), new=OLD),
    C("recipe-bad-prefix", "build r.yaml --out out", 2, "prefix_tokens",
      _rec(steps="[{type: generate, prefix_tokens: [5, 2]}]"), new=OLD),
    C("recipe-drop-top-1.5", "build r.yaml --out out", 2, "drop_top",
      _rec(steps="[{type: sample}, {type: perplexity_filter, drop_top: 1.5}]"), new=OLD),
    C("source-no-text-field", "build r.yaml --out out", 2, "has no field 'body'",
      _rec(source="{type: files, paths: [$DOCS], text_field: body}".replace("$DOCS", "docs.jsonl")), new=OLD),
    C("source-no-id-field", "build r.yaml --out out", 2, "has no field 'uid'",
      _rec(source="{type: files, paths: [docs.jsonl], id_field: uid}"), new=OLD),
    C("set-not-key-value", "build small.yaml --out out --set n_samples", 2, "is not key=value", new=OLD),
    C("set-bad-index", "build small.yaml --out out --set components.5.weight=1", 2, "does not exist", new=OLD),
    C("set-bad-type", "build small.yaml --out out --set n_samples=lots", 2, "field 'n_samples'", new=OLD),
    C("model-unknown", "build small.yaml --out out --set model.name=no-such-model", 2, "unknown model 'no-such-model'",
      new=OLD),
    C("model-folder-no-config", "build small.yaml --out out --set model.name=empty_model", 2, "has no config.json",
      lambda ws: ws.p("empty_model").mkdir(), new=OLD),
    C("build-unknown-option", "build small.yaml --bogus", 2, "No such option '--bogus'", new=OLD),
    C("build-bad-seed", "build small.yaml --seed abc", 2, "'abc' is not a valid integer", new=OLD),
    C("unknown-command", "frobnicate", 2, "No such command 'frobnicate'", new=OLD),
    C("prune-sparsity-1.5", [*PRUNE[:-3], "--sparsity", "1.5", "--calibration", V1, "--out", "runs/p"], 2, "sparsity",
      new=OLD),
    C("prune-bad-pattern", [*PRUNE, "--pattern", "2:x", "--calibration", V1, "--out", "runs/p"], 2, "pattern", new=OLD),
    C("prune-unknown-method", ["prune", "--model", "model", "--method", "nope", "--sparsity", "0.5",
                               "--calibration", V1, "--out", "runs/p"], 2, "nope", new=OLD),
    C("prune-missing-set", [*PRUNE, "--calibration", "out/none", "--out", "runs/p"], 2, "does not exist", new=OLD),
    C("prune-out-not-empty", [*PRUNE, "--calibration", V1, "--out", "runs/p"], 2, "is not empty",
      lambda ws: ws.write("runs/p/keep.txt", "x"), new=OLD),
    C("prune-nsamples-0", [*PRUNE, "--calibration", V1, "--nsamples", "0", "--out", "runs/p"], 2, "--nsamples 0",
      new=OLD),
    C("validate-seeds-0", [*VALIDATE[:-1], V1, "--seeds", "0", "--out", "runs/v"], 2, "--seeds", new=OLD),
    C("validate-nsamples-too-many", [*VALIDATE, V1, "--nsamples", "99", "--out", "runs/v"], 2, "--nsamples 99 exceeds",
      new=OLD),
    C("validate-missing-set", [*VALIDATE, "out/none", "--out", "runs/v"], 2, "does not exist", new=OLD),
    C("score-unknown-score", ["score", V1, "--scores", "zzz", "--out", "runs/s"], 2, "zzz", new=OLD),
    C("publish-bad-repo", ["publish", V1, "--repo", "not a repo"], 2, "is not a Hub dataset id", new=OLD),
    C("publish-no-token", ["publish", V1, "--repo", "me/calib", "--endpoint", "http://127.0.0.1:9"], 2,
      "no Hugging Face token", new=OLD),
    C("list-missing-folder", "list nowhere", 2, "nowhere is not a folder", new=OLD),
    C("show-missing", "show out/none", 2, "does not exist", new=OLD),
    # ---- path escape and labels -------------------------------------------------------------------
    C("version-dotdot", "build small.yaml --out out/inner --version ../../escaped", 2, "is a path, not a label"),
    C("version-absolute", ["build", "small.yaml", "--out", "out", "--version", "/tmp/curate-escaped"], 2,
      "is a path, not a label"),
    C("version-empty", ["build", "small.yaml", "--out", "out", "--version", ""], 2, "--version '' is empty"),
    C("version-space", ["build", "small.yaml", "--out", "out", "--version", "v 1"], 2, "cannot safely hold"),
    C("version-taken-other-content", "build small.yaml --out out --seed 5 --version v1.0.0", 2, "already exists"),
    # ---- fingerprints checked against the rows ----------------------------------------------------
    C("row-edited-show", ["show", V1], 2, "hash to", rewrite_arrow),
    C("row-edited-diff", ["diff", V1, V2], 2, "hash to", rewrite_arrow),
    C("row-edited-prune", [*PRUNE, "--calibration", V1, "--out", "runs/p"], 2, "hash to", rewrite_arrow),
    C("row-edited-validate", [*VALIDATE, V1, "--out", "runs/v"], 2, "hash to", rewrite_arrow),
    C("row-edited-score", [*SCORE, V1, "--out", "runs/s"], 2, "hash to", rewrite_arrow),
    C("row-edited-publish", ["publish", V1, "--repo", "me/calib", "--endpoint", "http://127.0.0.1:9"], 2, "hash to",
      rewrite_arrow),
    C("row-edited-verify", ["verify", "out"], 2, "1 of 2 version(s) damaged", rewrite_arrow),
    C("row-edited-list", ["list", "out"], 2, "1 damaged version(s) left out", rewrite_arrow),
    C("parquet-edited-publish", ["publish", V1, "--repo", "me/calib", "--endpoint", "http://127.0.0.1:9"], 2,
      "train-00000-of-00001.parquet hash to", rewrite_parquet),
    C("manifest-fingerprint-edited-show", ["show", V1], 2, "its manifest says 0123456789ab",
      lambda ws: edit_manifest(ws, fingerprint="0123456789ab" + "0" * 52)),
    C("manifest-n-samples-edited-show", ["show", V1], 2, "says n_samples=80",
      lambda ws: edit_manifest(ws, n_samples=80)),
    C("manifest-seq-len-edited-show", ["show", V1], 2, "says seq_len=128",
      lambda ws: edit_manifest(ws, seq_len=128)),
    C("manifest-fingerprint-copied-diff", ["diff", V1, V2], 2, "hash to",
      lambda ws: edit_manifest(ws, V2, fingerprint=json.loads(ws.p(V1 + "/manifest.json").read_text())["fingerprint"])),
    C("rows-dropped-prune", [*PRUNE, "--calibration", V1, "--out", "runs/p"], 2, "hash to",
      lambda ws: rewrite_arrow(ws, edit=lambda rows: rows.pop())),
    # ---- unreadable files -------------------------------------------------------------------------
    C("manifest-not-json-show", ["show", V1], 2, "manifest.json is not valid JSON",
      lambda ws: ws.write(V1 + "/manifest.json", "{not json")),
    C("manifest-not-json-list", ["list", "out"], 2, "manifest.json is not valid JSON",
      lambda ws: ws.write(V1 + "/manifest.json", "{not json")),
    C("manifest-not-json-prune", [*PRUNE, "--calibration", "out/small", "--out", "runs/p"], 2,
      "manifest.json is not valid JSON", lambda ws: ws.write(V1 + "/manifest.json", "{not json")),
    C("arrow-truncated-diff", ["diff", V1, V2], 2, "is unreadable", lambda ws: truncate(ws, V1 + "/" + ARROW)),
    C("arrow-truncated-prune", [*PRUNE, "--calibration", V1, "--out", "runs/p"], 2, "is unreadable",
      lambda ws: truncate(ws, V1 + "/" + ARROW)),
    C("arrow-truncated-score", [*SCORE, V1, "--out", "runs/s"], 2, "is unreadable",
      lambda ws: truncate(ws, V1 + "/" + ARROW)),
    C("arrow-truncated-validate", [*VALIDATE, V1, "--out", "runs/v"], 2, "is unreadable",
      lambda ws: truncate(ws, V1 + "/" + ARROW)),
    C("parquet-truncated-diff", ["diff", V1, V2], 2, "is unreadable", lambda ws: truncate(ws, V1 + "/" + PARQUET)),
    C("parquet-truncated-verify", ["verify", V1], 2, "is unreadable", lambda ws: truncate(ws, V1 + "/" + PARQUET)),
    C("arrow-missing-show", ["show", V1], 2, "is missing", lambda ws: ws.p(V1 + "/" + ARROW).unlink()),
    C("calibration-file-truncated-parquet", [*PRUNE, "--calibration", "c.parquet", "--out", "runs/p"], 2,
      "cannot read calibration file c.parquet", lambda ws: ws.write("c.parquet", b"PAR1\x00\x01garbage")),
    C("calibration-file-empty-jsonl", [*PRUNE, "--calibration", "c.jsonl", "--out", "runs/p"], 2, "is empty",
      lambda ws: ws.write("c.jsonl", "")),
    # ---- interrupted writes -----------------------------------------------------------------------
    C("killed-write-list", ["list", "out"], 0, "v2.0.0", fake_killed_write),
    C("killed-write-show-latest", ["show", "out/small"], 0, "small v2.0.0", fake_killed_write),
    C("killed-write-publish-all", ["publish", "out/small", "--all-versions", "--repo", "me/calib", "--endpoint",
                                   "http://127.0.0.1:9"], 2, "no Hugging Face token", fake_killed_write,
      shows="publishing 2 versions"),
    C("killed-write-rebuild-cleans", "build small.yaml --out out --seed 2 --quiet", 0, "out/small/v3.0.0",
      fake_killed_write, left=("-out/small/.tmp-999999-deadbeef/*", "+out/small/v3.0.0/*")),
    C("identical-build-unchanged", "build small.yaml --out out --quiet", 0, "unchanged: identical content"),
    C("verify-intact", ["verify", "out"], 0, "2 version(s) intact"),
    # ---- where the output goes --------------------------------------------------------------------
    C("out-under-file-build", "build small.yaml --out afile/out", 2, "is under the file afile",
      lambda ws: ws.write("afile", "x")),
    C("out-under-file-prune", [*PRUNE, "--calibration", V1, "--out", "afile/p"], 2, "is under the file afile",
      lambda ws: ws.write("afile", "x")),
    C("out-under-file-validate", [*VALIDATE, V1, "--out", "afile/v"], 2, "is under the file afile",
      lambda ws: ws.write("afile", "x")),
    C("out-under-file-score", [*SCORE, V1, "--out", "afile/s"], 2, "is under the file afile",
      lambda ws: ws.write("afile", "x")),
    C("out-read-only-build", "build small.yaml --out ro/out", 2, "is not writable (Read-only file system)",
      lambda ws: ws.mount("ro", "ro,size=1m"), mount=True),
    C("out-read-only-prune", [*PRUNE, "--calibration", V1, "--out", "ro/p"], 2, "is not writable",
      lambda ws: ws.mount("ro", "ro,size=1m"), mount=True),
    C("out-read-only-validate", [*VALIDATE, V1, "--out", "ro/v"], 2, "is not writable",
      lambda ws: ws.mount("ro", "ro,size=1m"), mount=True),
    C("out-read-only-score", [*SCORE, V1, "--out", "ro/s"], 2, "is not writable",
      lambda ws: ws.mount("ro", "ro,size=1m"), mount=True),
    C("out-full-build", "build small.yaml --out full/out", 2, "MB free, about",
      lambda ws: (ws.mount("full", "size=256k"), ws.fill("full")), mount=True),
    C("out-full-prune", [*PRUNE, "--calibration", V1, "--out", "full/p"], 2, "MB free, about",
      lambda ws: (ws.mount("full", "size=256k"), ws.fill("full")), mount=True),
    C("out-full-during-write", "build small.yaml --out full/out --seed 3", 2, "No space left on device",
      lambda ws: (ws.mount("full", "size=256k"), ws.fill("full"), _skip_preflight()), mount=True),
    # ---- recipes as files -------------------------------------------------------------------------
    C("recipe-not-utf8", "build r.yaml --out out", 2, "is not UTF-8 text",
      lambda ws: ws.write("r.yaml", recipe_text(ws.dir).replace("seed: 0", "# caf\xe9\nseed: 0").encode("latin-1"))),
    C("recipe-is-folder", "build recipes_dir --out out", 2, "is a folder, not a YAML file",
      lambda ws: ws.p("recipes_dir").mkdir()),
    C("recipe-duplicate-key", "build r.yaml --out out", 2, "duplicate key 'n_samples'",
      lambda ws: ws.write("r.yaml", recipe_text(ws.dir) + "n_samples: 4\n")),
    C("recipe-seq-len-over-model", "build small.yaml --out out --set seq_len=2048", 2, "exceeds the 1024 positions"),
    C("recipe-seq-len-9000-bundled", "build default --out out --set seq_len=9000", 2,
      "9000 exceeds the 8192 positions of model 'smollm2-135m'"),
    C("recipe-unknown-encoding", "build r.yaml --out out", 2, "unknown encoding 'klingon'",
      lambda ws: ws.recipe(source="{type: files, paths: [docs.jsonl], encoding: klingon}")),
    # ---- text sources decode strictly -------------------------------------------------------------
    C("source-binary-txt", "build r.yaml --out out", 2, "looks binary (NUL byte",
      lambda ws: _bad(ws, "bin.txt", bytes(range(256)) * 40)),
    C("source-latin1-txt", "build r.yaml --out out", 2, "is not valid utf-8 (byte 0xe9",
      lambda ws: _bad(ws, "l1.txt", ("caf\xe9 " * 300).encode("latin-1"))),
    C("source-latin1-txt-declared", "build r.yaml --out out --quiet", 0, "out/small/v3.0.0",
      lambda ws: (ws.write("l1.txt", ("caf\xe9 au lait " * 300).encode("latin-1")),
                  ws.recipe(source=f"{{type: files, paths: [{ws.p('l1.txt')}], encoding: latin-1}}",
                            steps="[{type: sample, oversample: 1.0}]", n=1)),
      left=("+out/small/v3.0.0/*",)),
    C("source-empty-jsonl", "build r.yaml --out out", 2, "is empty", lambda ws: _bad(ws, "e.jsonl", "")),
    C("source-jsonl-not-utf8", "build r.yaml --out out", 2, "is not valid UTF-8 (line 1, byte 13 of the line)",
      lambda ws: _bad(ws, "l1.jsonl", b'{"text": "caf\xe9"}\n')),
    C("source-text-not-string", "build r.yaml --out out", 2, "is int, not text",
      lambda ws: _bad(ws, "n.jsonl", '{"text": 5}\n')),
]


# =========================================================================== issue 21: the second round

def _evil_pickle(ws: Workspace) -> None:
    """A 'predictor' that writes a marker file when unpickled (what joblib.load would run)."""
    import pickle

    class Evil:
        def __reduce__(self):
            return (open, (str(ws.p("pwned")), "w"))

    ws.write("evil.joblib", pickle.dumps(Evil()))


def _predictor(ws: Workspace, names: tuple[str, ...] = ("distinct_2", "ngram4_aggregation"), **edit) -> None:
    """A real fitted predictor file (model-free features by default), then ``edit`` applied to its JSON."""
    import numpy as np

    from curate.validate.predict import LinearModel, Predictor, _digest, _pipeline

    names = list(names)
    x = np.array([[0.1, 0.1, 3.0], [0.5, 0.2, 2.0], [0.9, 0.3, 1.5]])[:, : len(names)]
    pred = Predictor(features=names, dimensions=["Total"],
                     models={"Total": LinearModel.from_pipeline(_pipeline().fit(x, [0.1, 0.5, 0.9]))},
                     halfwidth={"Total": 0.05}, rho_recipe={"Total": 1.0}, rho_rows={"Total": 1.0}, n_rows=3,
                     n_recipes=3, recipes=["a", "b", "c"], config={}, fingerprint="f" * 64)
    d = pred.to_dict()
    if edit:
        redigest = edit.pop("_redigest", False)
        d.update(edit)
        if redigest:
            d["digest"] = _digest({k: v for k, v in d.items() if k != "digest"})
    ws.write("p.json", json.dumps(d))


def _model_feature_predictor(ws: Workspace) -> None:
    """A predictor over log_ppl (measured with the bundled smollm2-135m) for sets of the tiny
    tokenizer. The feature model's tokenizer comes from the converted bundled model: the user's
    cache is used, where it is converted once (restored after the case)."""
    _predictor(ws, names=("distinct_2", "ngram4_aggregation", "log_ppl"))
    os.environ["CURATE_CACHE"] = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"),
                                              "curate")


def _outside_secret(ws: Workspace) -> Path:
    return ws.write("secret.txt", "the neighbour's notes")


def _symlink_extras(ws: Workspace, version: str = V1) -> None:
    (ws.p(version) / "extras").mkdir(exist_ok=True)
    (ws.p(version) / "extras" / "notes.json").symlink_to(_outside_secret(ws))


def _symlink_arrow(ws: Workspace) -> None:
    """The rows moved outside the folder (same bytes), the arrow file a link to them."""
    outside = ws.p("elsewhere.arrow")
    shutil.copy2(ws.p(V1) / ARROW, outside)
    (ws.p(V1) / ARROW).unlink()
    (ws.p(V1) / ARROW).symlink_to(outside)


def _state_outside(ws: Workspace) -> None:
    """state.json names an arrow file outside the folder (a copy of the same rows)."""
    shutil.copy2(ws.p(V1) / ARROW, ws.p("elsewhere.arrow"))
    f = ws.p(V1) / "state.json"
    state = json.loads(f.read_text())
    state["_data_files"] = [{"filename": "../../../elsewhere.arrow"}]
    f.write_text(json.dumps(state))


def _copy_version(ws: Workspace, label: str = "v9.0.0") -> None:
    shutil.copytree(ws.p(V1), ws.p(f"out/small/{label}"))


def _set_manifest(ws: Workspace, **fields) -> None:
    """edit_manifest of V1 for any field, ``version`` included (edit_manifest's own keyword)."""
    f = ws.p(V1) / "manifest.json"
    f.write_text(json.dumps({**json.loads(f.read_text()), **fields}, indent=2))


def _drop_digest(ws: Workspace) -> None:
    f = ws.p(V1) / "manifest.json"
    m = json.loads(f.read_text())
    m.pop("manifest_digest")
    f.write_text(json.dumps(m, indent=2))


def _edit_model(ws: Workspace, **fields) -> None:
    f = ws.p(V1) / "manifest.json"
    m = json.loads(f.read_text())
    m["model"].update(fields)
    f.write_text(json.dumps(m, indent=2))


def _model_copy(ws: Workspace, name: str, damage: Callable[[Path], None]) -> None:
    shutil.copytree(ws.p("model"), ws.p(name))
    damage(ws.p(name))


def _truncated_weights(d: Path) -> None:
    f = d / "model.safetensors"
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])


def _garbage_weights(d: Path) -> None:
    (d / "model.safetensors").write_bytes(b"not a safetensors file " * 64)


def _no_tokenizer(d: Path) -> None:
    for f in d.iterdir():
        if f.name.startswith("tokenizer") or f.name in ("vocab.json", "merges.txt", "special_tokens_map.json"):
            f.unlink()


def _bad_tokenizer_json(d: Path) -> None:
    (d / "tokenizer.json").write_text("{not json")


def _store(ws: Workspace, rows: bytes | None = None, features: str | None = None) -> None:
    import polars as pl

    from curate.validate.results import MOE_COLUMNS, TABLE_COLUMNS, with_moe_columns

    legacy = [c for c in TABLE_COLUMNS if c not in MOE_COLUMNS]
    table = with_moe_columns(pl.DataFrame([["small@v1.0.0", "fp", 0, "magnitude", 0.5, "unstructured", "ppl:x",
                                            "General", 10.0, 9.0, 0.9]], schema=legacy, orient="row")
                             ).select(TABLE_COLUMNS)
    (ws.p("store/rows")).mkdir(parents=True)
    if rows is None:
        table.write_parquet(ws.p("store/rows/good.parquet"))
    else:
        ws.write("store/rows/bad.parquet", rows)
    if features is not None:
        ws.write("store/features/fp.json", features)


def _home(ws: Workspace) -> None:
    ws.p("home").mkdir()
    os.environ["HOME"] = str(ws.p("home"))  # restored after the case


def _dangling(ws: Workspace, rel: str = "gone") -> None:
    ws.p(rel).symlink_to(ws.p("nowhere/at/all"))


def _ro_cache(ws: Workspace) -> None:
    target = ws.mount("rocache", "ro,size=1m")
    os.environ["CURATE_CACHE"] = str(target)  # restored after the case


def _big_jsonl(ws: Workspace, mb: int = 50, knob: str = "") -> None:
    """A jsonl whose line 2 is one document of ``mb`` MB (line 1 a normal one)."""
    with open(ws.p("big.jsonl"), "w") as fh:
        fh.write(json.dumps({"text": "a short first document"}) + "\n")
        fh.write('{"text": "' + "word " * (mb * 200_000) + '"}\n')
    ws.recipe(source=f"{{type: files, paths: [{ws.p('big.jsonl')}]{knob}}}")


def _huge_txt(ws: Workspace) -> None:
    from curate.sources.base import MAX_DOC_BYTES

    f = ws.p("huge.txt")
    with open(f, "wb") as fh:  # sparse: the size is refused before a byte is read
        fh.truncate(4 * MAX_DOC_BYTES + 1)
    ws.recipe(source=f"{{type: files, paths: [{f}]}}")


def _two_components(weight: str) -> Callable[[Workspace], None]:
    def run(ws: Workspace) -> None:
        src = f"{{type: files, paths: [{ws.p('docs.jsonl')}]}}"
        ws.write("r.yaml", f"name: small\nseed: 0\nseq_len: 64\nn_samples: 8\nmodel: {{name: {ws.p('model')}}}\n"
                           f"components:\n  - {{name: a, weight: {weight}, source: {src}}}\n"
                           f"  - {{name: b, weight: {weight}, source: {src}}}\n")
    return run




def _texts(name: str) -> list[str]:
    return [name if a == "notes.txt" else a for a in VALIDATE]


QUANT = ["quantize", "--model", "model", "--out", "runs/q", "--quiet"]
PUBLISH = ["publish", V1, "--repo", "me/calib", "--endpoint", "http://127.0.0.1:9"]
CASES += [
    # ---- no code runs from a file ------------------------------------------------------------------
    R2("predict-rank-crafted-pickle", ["predict", "rank", V1, "--model", "evil.joblib"], 2,
       "is not a curate predictor (not JSON text; pickled predictors are never loaded)", _evil_pickle),
    R2("predict-rank-other-format-version", ["predict", "rank", V1, "--model", "p.json"], 2, "has format version 1",
       lambda ws: _predictor(ws, format_version=1, _redigest=True)),
    R2("predict-rank-edited-predictor", ["predict", "rank", V1, "--model", "p.json"], 2, "digest does not match",
       lambda ws: _predictor(ws, halfwidth={"Total": 0.0})),
    R2("predict-rank-malformed-predictor", ["predict", "rank", V1, "--model", "p.json"], 2, "missing or malformed",
       lambda ws: _predictor(ws, models={"Total": {"mean": [0.0]}}, _redigest=True)),
    R2("predict-rank-other-tokenizer", ["predict", "rank", V1, "--model", "p.json"], 2,
       "was tokenized with tokenizer", _model_feature_predictor),
    R2("predict-rank-json-predictor-ok", ["predict", "rank", V1, "--model", "p.json"], 0, "| 1 | out/small/v1.0.0 |",
       _predictor),
    # ---- nothing leaves the version folder ---------------------------------------------------------
    R2("symlink-extras-publish", PUBLISH, 2, "extras/notes.json is a symlink out of the version folder",
       _symlink_extras),
    R2("symlink-extras-verify", ["verify", V1], 2, "1 of 1 version(s) damaged", _symlink_extras,
       shows="is a symlink out of the version folder"),
    R2("symlink-extras-show", ["show", V1], 2, "is a symlink out of the version folder", _symlink_extras),
    R2("symlink-arrow-prune", [*PRUNE, "--calibration", V1, "--out", "runs/p"], 2, "is a symlink out of the version",
       _symlink_arrow),
    R2("symlink-arrow-list", ["list", "out"], 2, "1 damaged version(s) left out", _symlink_arrow),
    R2("state-json-outside-verify", ["verify", V1], 2, "1 of 1 version(s) damaged", _state_outside,
       shows="outside the version folder"),
    R2("state-json-outside-validate", [*VALIDATE, V1, "--out", "runs/v"], 2, "outside the version folder",
       _state_outside),
    R2("state-json-outside-publish", PUBLISH, 2, "outside the version folder", _state_outside),
    R2("symlink-inside-ok", ["verify", V1], 0, "1 version(s) intact",
       lambda ws: (ws.p(V1) / "extras").mkdir() or (ws.p(V1) / "extras" / "card.md").symlink_to(ws.p(V1) / "README.md")),
    # ---- the manifest bound whole ------------------------------------------------------------------
    R2("manifest-version-edited-verify", ["verify", V1], 2, "1 of 1 version(s) damaged",
       lambda ws: _set_manifest(ws, version="v7.0.0"), shows="was edited after it was written"),
    R2("manifest-seed-edited-show", ["show", V1], 2, "was edited after it was written",
       lambda ws: edit_manifest(ws, seed=42)),
    R2("manifest-name-edited-list", ["list", "out"], 2, "1 damaged version(s) left out",
       lambda ws: edit_manifest(ws, name="other")),
    R2("manifest-model-edited-list", ["list", "out"], 2, "1 damaged version(s) left out",
       lambda ws: _edit_model(ws, name="meta-llama/Llama-2-7b-hf")),
    R2("manifest-tokenizer-edited-prune", [*PRUNE, "--calibration", V1, "--out", "runs/p"], 2,
       "was edited after it was written", lambda ws: _edit_model(ws, tokenizer="0" * 16)),
    R2("manifest-recipe-hash-edited-validate", [*VALIDATE, V1, "--out", "runs/v"], 2, "was edited after it was written",
       lambda ws: edit_manifest(ws, recipe_hash="0123456789abcdef")),
    R2("manifest-counts-edited-publish", PUBLISH, 2, "was edited after it was written",
       lambda ws: edit_manifest(ws, source_counts={"docs": 999})),
    R2("manifest-version-edited-publish", PUBLISH, 2, "was edited after it was written",
       lambda ws: _set_manifest(ws, version="v9.9.9")),
    R2("manifest-digest-removed-show", ["show", V1], 2, "has no manifest_digest", _drop_digest),
    R2("manifest-digest-removed-score", [*SCORE, V1, "--out", "runs/s"], 2, "has no manifest_digest", _drop_digest),
    R2("folder-copied-other-label-list", ["list", "out"], 2, "1 damaged version(s) left out", _copy_version),
    R2("folder-copied-other-label-show", ["show", "out/small/v9.0.0"], 2, "the folder name must be its label",
       _copy_version),
    R2("state-json-missing-verify", ["verify", "out"], 2, "1 of 2 version(s) damaged",
       lambda ws: (ws.p(V1) / "state.json").unlink(), shows="state.json is missing"),
    R2("state-json-missing-list", ["list", "out"], 2, "1 damaged version(s) left out",
       lambda ws: (ws.p(V1) / "state.json").unlink()),
    R2("state-json-missing-show", ["show", V1], 2, "state.json is missing", lambda ws: (ws.p(V1) / "state.json").unlink()),
    R2("dataset-info-missing-verify", ["verify", V1], 2, "1 of 1 version(s) damaged",
       lambda ws: (ws.p(V1) / "dataset_info.json").unlink(), shows="dataset_info.json is missing"),
    R2("dataset-info-missing-prune", [*PRUNE, "--calibration", V1, "--out", "runs/p"], 2, "dataset_info.json is missing",
       lambda ws: (ws.p(V1) / "dataset_info.json").unlink()),
    # ---- silent wrong results ----------------------------------------------------------------------
    R2("validate-texts-binary", [*_texts("bin.bin"), V1, "--out", "runs/v"], 2,
       "evaluation text bin.bin looks binary", lambda ws: ws.write("bin.bin", bytes(range(256)) * 8)),
    R2("validate-texts-latin1", [*_texts("l1.txt"), V1, "--out", "runs/v"], 2,
       "evaluation text l1.txt is not valid utf-8", lambda ws: ws.write("l1.txt", ("caf\xe9 " * 50).encode("latin-1"))),
    R2("validate-texts-unknown-domain", [*_texts("notes.txt=astrology"), V1, "--out", "runs/v"],
       2, "unknown domain 'astrology'"),
    R2("validate-texts-bad-jsonl", [*_texts("t.jsonl"), V1, "--out", "runs/v"], 2,
       "t.jsonl line 1 is not valid JSON", lambda ws: ws.write("t.jsonl", "{not json\n")),
    R2("build-device-banana", "build small.yaml --out out --device banana", 2, "device 'banana' is not a torch device"),
    R2("build-device-cuda-7", "build small.yaml --out out --device cuda:7", 2, "device 'cuda:7'"),
    R2("recipe-device-banana", "build r.yaml --out out", 2, "field 'model.device'",
       lambda ws: ws.write("r.yaml", recipe_text(ws.dir).replace("}\ncomponents", ", device: banana}\ncomponents"))),
    R2("prune-device-banana", [*PRUNE, "--calibration", V1, "--device", "banana", "--out", "runs/p"], 2,
       "device 'banana' is not a torch device"),
    R2("validate-device-banana", [*VALIDATE, V1, "--device", "banana", "--out", "runs/v"], 2,
       "device 'banana' is not a torch device"),
    R2("score-device-banana", [*SCORE, V1, "--device", "banana", "--out", "runs/s"], 2,
       "device 'banana' is not a torch device"),
    R2("quantize-device-banana", [*QUANT, "--method", "rtn", "--device", "banana"], 2, "device 'banana'"),
    # ---- sizes refused before the work -------------------------------------------------------------
    R2("size-n-samples-1e9", "build small.yaml --out out --set n_samples=1000000000 --set seq_len=2", 2,
       "would hold about 1,000,000,000 rows x 2 tokens in memory"),
    R2("size-oversample-1e9", "build r.yaml --out out", 2, "lower 'oversample' of component 'docs'",
       _rec(steps="[{type: sample, oversample: 1e9}]", name="small")),
    R2("size-pool-1e9", "build r.yaml --out out", 2, "lower pool_size (1000000000)",
       _rec(extra="pool_size: 1000000000\nsteps: [{type: select, order: random}]\n", name="small")),
    R2("size-jsonl-line-50mb", "build r.yaml --out out", 2,
       "big.jsonl line 2 is a document of 50,000,000 bytes, more than the 16,000,000 bytes a document may hold "
       "(max_doc_bytes)", _big_jsonl),
    R2("size-jsonl-line-over-max-doc-bytes", "build r.yaml --out out", 2,
       "line 2 is a document of 1,000,000 bytes, more than the 200,000 bytes", lambda ws: _big_jsonl(
           ws, 1, ", max_doc_bytes: 200000")),
    R2("size-jsonl-line-unread-past-6x", "build r.yaml --out out", 2,
       "line 2 is a document of 6,004,097 bytes or more of JSON, more than the 1,000,000 bytes",
       lambda ws: _big_jsonl(ws, 12, ", max_doc_bytes: 1000000")),
    R2("size-max-doc-bytes-negative", "build r.yaml --out out", 2, "max_doc_bytes': Input should be greater than 0",
       _rec(source="{type: bundled, name: wikipedia, max_doc_bytes: -1}")),
    R2("size-txt-over-64mb", "build r.yaml --out out", 2, "is a document of 64,000,001 bytes", _huge_txt),
    # ---- non-finite numbers ------------------------------------------------------------------------
    R2("recipe-weight-inf", "build r.yaml --out out", 2, "field 'components.0.weight': Input should be a finite number",
       _two_components(".inf")),
    R2("recipe-weights-overflow", "build r.yaml --out out", 2, "component weights sum to inf", _two_components("1e308")),
    R2("recipe-oversample-inf", "build r.yaml --out out", 2, "oversample': Input should be a finite number",
       _rec(steps="[{type: sample, oversample: .inf}]")),
    R2("recipe-oversample-nan", "build r.yaml --out out", 2, "oversample': Input should be a finite number",
       _rec(steps="[{type: sample, oversample: .nan}]")),
    R2("recipe-temperature-nan", "build r.yaml --out out", 2, "temperature': Input should be a finite number",
       _rec(steps="[{type: generate, temperature: .nan}]")),
    R2("set-weight-nan", "build small.yaml --out out --set components.0.weight=.nan", 2, "finite number"),
    R2("prune-percdamp-inf", [*PRUNE[:4], "sparsegpt", *PRUNE[5:], "--percdamp", "inf", "--calibration", V1,
                              "--out", "runs/p"], 2, "percdamp: Input should be a finite number"),
    R2("prune-sparsity-nan", [*PRUNE[:-3], "--sparsity", "nan", "--calibration", V1, "--out", "runs/p"], 2,
       "finite number"),
    R2("quantize-percdamp-nan", [*QUANT, "--calibration", V1, "--percdamp", "nan"], 2, "finite number"),
    R2("score-k-nan", [*SCORE, V1, "--k", "nan", "--out", "runs/s"], 2, "--k nan must be a fraction"),
    # ---- damaged model folders ---------------------------------------------------------------------
    R2("model-truncated-weights-prune", [*PRUNE[:1], "--model", "m2", *PRUNE[3:], "--calibration", V1, "--out", "runs/p"],
       2, "a safetensors file is damaged", lambda ws: _model_copy(ws, "m2", _truncated_weights)),
    R2("model-garbage-weights-score", ["score", V1, "--model", "m2", "--scores", "ppl", "--quiet", "--out", "runs/s"],
       2, "a safetensors file is damaged", lambda ws: _model_copy(ws, "m2", _garbage_weights)),
    R2("model-no-tokenizer-build", "build small.yaml --out out --set model.name=m2", 2, "cannot load tokenizer of 'm2'",
       lambda ws: _model_copy(ws, "m2", _no_tokenizer)),
    R2("model-no-tokenizer-prune", [*PRUNE[:1], "--model", "m2", *PRUNE[3:], "--calibration", V1, "--out", "runs/p"],
       2, "cannot load tokenizer of 'm2'", lambda ws: _model_copy(ws, "m2", _no_tokenizer)),
    R2("model-bad-tokenizer-json-build", "build small.yaml --out out --set model.name=m2", 2,
       "cannot load tokenizer of 'm2'", lambda ws: _model_copy(ws, "m2", _bad_tokenizer_json)),
    # ---- N:M against the model's shapes ------------------------------------------------------------
    R2("prune-nm-2-5-wanda", [*PRUNE[:4], "wanda", "--pattern", "2:5", "--quiet", "--calibration", V1, "--out", "runs/p"],
       2, "needs every pruned matrix's input dimension to be a multiple of 5"),
    R2("prune-nm-2-5-sparsegpt", [*PRUNE[:4], "sparsegpt", "--pattern", "2:5", "--quiet", "--calibration", V1, "--out",
                                  "runs/p"], 2, "a multiple of 5"),
    R2("validate-nm-3-7", [*VALIDATE, V1, "--method", "wanda", "--pattern", "3:7", "--out", "runs/v"], 2,
       "a multiple of 7"),
    # ---- --set values ------------------------------------------------------------------------------
    R2("set-yaml-python-tag", ["build", "small.yaml", "--out", "out", "--set", "name=!!python/object/apply:os.system [x]"],
       2, "the value is not plain YAML"),
    R2("set-broken-yaml", ["build", "small.yaml", "--out", "out", "--set", "components=[{unclosed"], 2,
       "the value is not plain YAML"),
    # ---- the results store -------------------------------------------------------------------------
    R2("predict-fit-corrupt-rows", ["predict", "fit", "--store", "store", "--out", "p.json"], 2,
       "bad.parquet is unreadable", lambda ws: _store(ws, rows=b"PAR1 garbage")),
    R2("predict-fit-corrupt-features", ["predict", "fit", "--store", "store", "--out", "p.json"], 2,
       "fp.json of the results store is damaged", lambda ws: _store(ws, features="{not json")),
    R2("predict-add-corrupt-results", ["predict", "add", "runs/v", "--store", "store", "--no-model"], 2,
       "results.parquet is unreadable", lambda ws: ws.write("runs/v/results.parquet", b"garbage")),
    # ---- where the output goes, and what a failure leaves ------------------------------------------
    R2("out-tilde-expanded", ["build", "small.yaml", "--out=~/sets", "--seed", "4", "--quiet"], 0,
       "home/sets/small/v1.0.0", _home, left=("+home/sets/small/v1.0.0/*", "-home/")),
    R2("out-dangling-symlink-build", "build small.yaml --out gone", 2, "is a dangling symlink", _dangling),
    R2("out-under-dangling-symlink-prune", [*PRUNE, "--calibration", V1, "--out", "gone/p"], 2,
       "is under a dangling symlink", _dangling),
    R2("validate-failed-leaves-no-out", [*VALIDATE, V1, "--ppl-seq-len", "100000", "--out", "new/v"], 2,
       "fewer than one 100000-token window"),  # fails after --out was made: it is removed again
    R2("cache-read-only-validate", [*VALIDATE, V1, "--out", "runs/v"], 2, "the curate cache", _ro_cache, mount=True),
    R2("quantize-rtn-calibration-missing", [*QUANT, "--method", "rtn", "--calibration", "nope"], 2,
       "calibration set nope does not exist"),
]


def _skip_preflight():
    """Let the build past the free-space check so that the disk fills *during* the write."""
    import curate.sets.write

    original = curate.sets.write.check_writable
    curate.sets.write.check_writable = lambda *a, **k: None
    _restore.append(lambda: setattr(curate.sets.write, "check_writable", original))


_restore: list[Callable[[], None]] = []


# --------------------------------------------------------------------------- running one case


@dataclass
class Result:
    code: int
    line: str  # the error line, or the first line printed for a success
    left: list[str]
    lines: list[str]
    traceback: str | None = None


def _printed_lines(text: str) -> list[str]:
    """Lines a user reads: progress bars (carriage returns, '%|') left out."""
    out = []
    for raw in text.splitlines():
        line = raw.split("\r")[-1].strip()
        if line and "%|" not in line and "it/s]" not in line:
            out.append(line)
    return out


def run_case(case: Case, base: Path, work: Path) -> Result:
    from curate.cli import main

    ws = Workspace(work / case.id)
    shutil.copytree(base, ws.dir, symlinks=True, ignore=shutil.ignore_patterns("model"))
    (ws.dir / "model").symlink_to(base / "model")
    env = dict(os.environ)  # --quiet sets progress-bar variables for the process; undo them
    try:
        if case.damage:
            case.damage(ws)
        before = snapshot(ws.dir)
        out, err = io.StringIO(), io.StringIO()
        tb = None
        with chdir(ws.dir), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(case.argv))
            except BaseException:  # noqa: BLE001 - a traceback is a bug: recorded, the test fails
                import traceback

                tb, code = traceback.format_exc(), -1
        left = changes(before, snapshot(ws.dir))
    finally:
        os.environ.clear()
        os.environ.update(env)
        while _restore:
            _restore.pop()()
        for c in reversed(ws.cleanups):
            c()
    lines = _printed_lines(err.getvalue()) + _printed_lines(out.getvalue())
    errors = [ln for ln in lines if ln.startswith("error:")]
    line = errors[0] if errors else (lines[0] if lines else "")
    if code == 0:
        line = next((ln for ln in _printed_lines(out.getvalue()) + _printed_lines(err.getvalue())
                     if case.fragment in ln), line)
    line = line.replace(str(ws.dir), "$WS").replace(str(base), "$BASE")  # readable in the table
    return Result(code, line, left, lines, tb)


def markdown(rows: list[tuple[Case, Result]]) -> str:
    def cell(s: str) -> str:
        return s.replace("|", "\\|").replace("\n", " ")

    head = ["| # | case | command (run in the workspace) | exit | first line printed | files left |",
            "|---|---|---|---|---|---|"]
    body = []
    for i, (c, r) in enumerate(rows, 1):
        left = ", ".join(summarize_left(r.left)) if r.left else "none"
        tag = "" if c.new else " (old)"
        body.append(f"| {i} | {c.id}{tag} | `{cell(c.command)}` | {r.code} | {cell(r.line)[:220]} | {cell(left)[:120]} |")
    return "\n".join(head + body)


def summarize_left(left: list[str]) -> list[str]:
    """``+out/small/v3.0.0/manifest.json, +out/small/v3.0.0/...`` -> ``+out/small/v3.0.0/ (7 files)``."""
    groups: dict[str, int] = {}
    for entry in left:
        parts = entry.split("/")
        key = "/".join(parts[:3]) + "/" if len(parts) > 3 else entry
        groups[key] = groups.get(key, 0) + 1
    return [k if n == 1 and not k.endswith("/") else f"{k} ({n} files)" for k, n in groups.items()]
