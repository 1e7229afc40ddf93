"""Build pipeline on a tiny random model and local files (fast), and on the bundled model (slow)."""

import json
from typing import ClassVar, Literal

import pytest
import yaml
from pydantic import Field

from curate.build import build_recipe
from curate.context import RunContext
from curate.errors import CurateError, SourceError
from curate.recipe import parse_recipe
from curate.sampling import SAMPLERS, Sampler, make_tokenize, seeded_order
from curate.sets.read import load_set
from curate.sources import SOURCE_TYPES, Source, SourceSpec
from curate.steps import STEPS, Step, StepSpec


@pytest.fixture
def corpus(tmp_path):
    f = tmp_path / "docs.jsonl"
    words = "the quick brown fox jumps over a lazy dog while seven wizards quietly hex jumbo crates".split()
    with f.open("w") as fh:
        for i in range(40):
            text = " ".join(words[(i + j) % len(words)] for j in range(30 + i))
            fh.write(json.dumps({"id": f"doc{i}", "text": text}) + "\n")
    return f


def recipe(corpus, **kw):
    d = {"name": "t", "seed": 0, "seq_len": 32, "n_samples": 6,
         "components": [{"source": {"type": "files", "paths": [str(corpus)], "id_field": "id"},
                         "steps": [{"type": "sample"}]}]}
    d.update(kw)
    return parse_recipe(d)


def ctx(tiny_lm, seed=0):
    m, t = tiny_lm
    from curate.models import ModelInfo, tokenizer_fingerprint

    info = ModelInfo("tiny", "local", "/tiny", None, "0" * 64, tokenizer_fingerprint(t))
    return RunContext.from_objects(m, t, info, seed=seed, batch_size=4, progress=False)


def test_build_windows_fingerprint_reproducible(tmp_path, corpus, tiny_lm):
    r = recipe(corpus)
    a = build_recipe(r, tmp_path / "a", ctx=ctx(tiny_lm), progress=False)
    b = build_recipe(r, tmp_path / "b", ctx=ctx(tiny_lm), progress=False)
    c = build_recipe(r, tmp_path / "c", seed=1, ctx=ctx(tiny_lm), progress=False)
    assert a.manifest["fingerprint"] == b.manifest["fingerprint"] != c.manifest["fingerprint"]
    cs = load_set(a.path)
    assert cs.input_ids().shape == (6, 32)
    assert set(cs.dataset.column_names) >= {"text", "input_ids", "source", "doc_id"}
    assert a.manifest["steps"][0]["name"].startswith("source:") and a.manifest["seed"] == 0
    assert c.manifest["seed"] == 1 and c.manifest["recipe"]["seed"] == 1


def test_selfgen_with_ppl_filter_counts_and_determinism(tmp_path, corpus, tiny_lm):
    r = recipe(corpus, components=[{"source": {"type": "files", "paths": [str(corpus)]}, "steps": [
        {"type": "generate", "prefix_tokens": [1, 4], "oversample": 1.25},
        {"type": "perplexity_filter", "drop_top": 0.2}]}], n_samples=8)
    a = build_recipe(r, tmp_path / "a", ctx=ctx(tiny_lm), progress=False)
    b = build_recipe(r, tmp_path / "b", ctx=ctx(tiny_lm), progress=False)
    assert a.manifest["fingerprint"] == b.manifest["fingerprint"]
    steps = {s["kind"]: s for s in a.manifest["steps"]}
    assert steps["generator"]["kept"] == 10  # ceil(8 * 1.25)
    assert steps["filter"]["dropped"] == 2 and steps["filter"]["reasons"] == {"ppl_top_20pct": 2}
    # the dropped ones are the two highest-perplexity generations
    kept_ppl = [s.scores["ppl"] for s in a.samples]
    assert max(kept_ppl) <= steps["filter"]["extra"]["ppl_threshold"]
    ds = load_set(a.path).dataset
    assert all(1 <= p <= 4 for p in ds["meta_prefix_len"]) and set(ds["source"]) == {"self-gen:docs"}
    assert all(len(x) == 32 for x in ds["input_ids"])


def test_mixture_counts_exact(tmp_path, corpus, tiny_lm):
    comps = [{"name": n, "weight": w, "source": {"type": "files", "paths": [str(corpus)]}, "steps": [{"type": "sample"}]}
             for n, w in [("a", 0.5), ("b", 0.3), ("c", 0.2)]]
    res = build_recipe(recipe(corpus, components=comps, n_samples=10), tmp_path, ctx=ctx(tiny_lm), progress=False)
    assert [s["count"] for s in res.manifest["sources"]] == [5, 3, 2]


def test_errors_write_nothing(tmp_path, corpus, tiny_lm):
    out = tmp_path / "out"
    short = tmp_path / "short.jsonl"
    short.write_text(json.dumps({"id": "s", "text": "tiny"}) + "\n")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    cases = [
        (recipe(corpus, seq_len=5000), "longer than seq_len=5000"),
        (recipe(short), "longer than seq_len=32"),
        (recipe(tmp_path / "missing.jsonl"), "does not exist"),
        (recipe(empty), "empty|cannot read|no documents"),
    ]
    for r, msg in cases:
        with pytest.raises(SourceError, match=msg):
            build_recipe(r, out, ctx=ctx(tiny_lm), progress=False)
    assert not out.exists() or not any(out.rglob("*"))


def test_unknown_model_fails_before_any_work(tmp_path, corpus):
    r = recipe(corpus, model={"name": "no-such-model"})
    with pytest.raises(CurateError, match="unknown model 'no-such-model'"):
        build_recipe(r, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_cli_build_errors_are_one_line(tmp_path, corpus):
    import subprocess
    import sys

    from curate.cli import main

    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"name": "x", "seq_len": 8, "n_samples": 2, "bogus": 1,
                                   "components": [{"source": {"type": "files", "paths": [str(corpus)]}}]}))
    cases = [([str(bad)], "field 'bogus': unknown field"),
             ([str(tmp_path / "nope.yaml")], "does not exist"),
             (["wiki-windows", "--set", "model.name=nobody/nothing/x"], "unknown model")]
    for args, msg in cases:
        p = subprocess.run([sys.executable, "-m", "curate", "build", *args, "--out", str(tmp_path / "o")],
                           capture_output=True, text=True)
        assert p.returncode == 2, p.stderr
        err = [line for line in p.stderr.splitlines() if line.strip() and not line.startswith("building")]
        assert len(err) == 1 and err[0].startswith("error: ") and msg in err[0], p.stderr
        assert "Traceback" not in p.stderr
    assert not (tmp_path / "o").exists()
    assert main(["build", str(bad), "--out", str(tmp_path / "o")]) == 2


@pytest.mark.slow
def test_bundled_selfgen_build_is_real_and_reproducible(tmp_path, bundled_lm):
    """Self-generation on the real SmolLM2: text is fluent-ish English, L tokens, drops counted."""
    model, tok, info = bundled_lm
    d = yaml.safe_load(open("recipes/default.yaml"))
    d.update(n_samples=4, seq_len=48)
    r = parse_recipe(d)
    c = lambda: RunContext.from_objects(model, tok, info, seed=0, batch_size=5, progress=False)  # noqa: E731
    a = build_recipe(r, tmp_path / "a", ctx=c(), progress=False)
    b = build_recipe(r, tmp_path / "b", ctx=c(), progress=False)
    assert a.manifest["fingerprint"] == b.manifest["fingerprint"]
    ds = load_set(a.path).dataset
    assert len(ds) == 4 and all(len(x) == 48 for x in ds["input_ids"])
    # decoded text re-tokenizes to (almost) the same ids: it is real text, not id soup
    words = sum(len(t.split()) for t in ds["text"])
    assert words > 4 * 15
    assert a.manifest["model"]["sha"] == info.sha


def test_igsp_recipe_selects_balanced_subset_of_the_pool(tmp_path, corpus, tiny_lm):
    comps = [{"name": n, "source": {"type": "files", "paths": [str(corpus)]}, "steps": [{"type": "sample"}]}
             for n in ("a", "b")]
    r = recipe(corpus, components=comps, n_samples=6, pool_size=16, steps=[{"type": "igsp", "strata": 2}])
    res = build_recipe(r, tmp_path, ctx=ctx(tiny_lm), progress=False)
    igsp = next(s for s in res.manifest["steps"] if s["name"] == "igsp")
    assert igsp["seen"] == 16 and igsp["kept"] == 6 and igsp["reasons"] == {"igsp_not_selected": 10}
    info = igsp["extra"]["igsp"]
    assert info["selected_per_cell"] == info["quotas"] and sum(info["quotas"].values()) == 6
    assert all(b < a for a, b in zip(info["trace"], info["trace"][1:], strict=False))
    assert sorted(s.source for s in res.samples) == ["a"] * 3 + ["b"] * 3


# --------------------------------------------------------------------------- extension in one file
# Each test below is what a newcomer writes: one class (the "new file") and one register() line,
# then a recipe names it. Nothing in curate is edited.


@pytest.fixture
def register():
    """register(registry, name, impl, **kw) for one test; unregistered afterwards."""
    added = []

    def add(registry, name, impl, **kw):
        registry.register(name, impl, **kw)
        added.append((registry, name))

    yield add
    for registry, name in added:
        registry.unregister(name)


class KeepEverySpec(StepSpec):
    type: Literal["keep_every"]
    k: int = Field(default=2, ge=1)


class KeepEvery(Step):
    """Keeps every k-th sample (a stand-in for a newcomer's filter)."""

    kind = "filter"

    def __init__(self, spec: KeepEverySpec, **_):
        super().__init__(name="keep_every")
        self.spec = spec

    def process(self, samples, ctx):
        self.stats.drop(f"not_every_{self.spec.k}", len(samples) - len(samples[:: self.spec.k]))
        return samples[:: self.spec.k]


def test_new_step_is_one_class_and_one_registration(tmp_path, corpus, tiny_lm, register):
    register(STEPS, "keep_every", KeepEvery, spec=KeepEverySpec)
    steps = [{"type": "sample", "oversample": 2}, {"type": "keep_every", "k": 2}]
    r = recipe(corpus, components=[{"source": {"type": "files", "paths": [str(corpus)]}, "steps": steps}])
    res = build_recipe(r, tmp_path, ctx=ctx(tiny_lm), progress=False)
    st = next(s for s in res.manifest["steps"] if s["name"] == "keep_every")
    assert (st["seen"], st["kept"], st["reasons"]) == (12, 6, {"not_every_2": 6})
    assert res.manifest["recipe"]["components"][0]["steps"][1] == {"type": "keep_every", "k": 2}
    # the windows kept are the even-indexed ones of the plain sampler's 12
    plain = build_recipe(recipe(corpus, n_samples=12, components=[
        {"source": {"type": "files", "paths": [str(corpus)]}, "steps": [{"type": "sample"}]}]),
        tmp_path / "plain", ctx=ctx(tiny_lm), progress=False)
    assert [s.input_ids for s in res.samples] == [s.input_ids for s in plain.samples][::2]
    with pytest.raises(CurateError, match=r"field 'components.0.steps.1.kk': unknown field"):
        recipe(corpus, components=[{"source": {"type": "files", "paths": [str(corpus)]},
                                    "steps": [{"type": "sample"}, {"type": "keep_every", "kk": 2}]}])


class Head(Sampler):
    """Samples the first seq_len tokens after ``skip`` of each document, in seeded order."""

    skip: int = Field(default=0, ge=0)

    def draw(self, docs, *, n, seq_len, rng, tokenizer, source_name="source", progress=False):
        from curate.records import Sample

        tokenize, out = make_tokenize(tokenizer), []
        for i in seeded_order(docs, rng, source_name):
            ids = tokenize(docs[i].text)[self.skip:self.skip + seq_len]
            if len(ids) == seq_len:
                out.append(Sample(text=tokenizer.decode(ids), source=docs[i].source, doc_id=docs[i].doc_id,
                                  input_ids=ids))
            if len(out) == n:
                return out
        raise SourceError("too few long documents")


def test_new_sampler_is_one_class_and_one_registration(tmp_path, corpus, tiny_lm, register):
    register(SAMPLERS, "head", Head)
    comp = {"source": {"type": "files", "paths": [str(corpus)], "id_field": "id"},
            "steps": [{"type": "sample", "method": "head", "skip": 3}]}
    res = build_recipe(recipe(corpus, components=[comp]), tmp_path, ctx=ctx(tiny_lm), progress=False)
    texts = {json.loads(line)["id"]: json.loads(line)["text"] for line in corpus.read_text().splitlines()}
    tok = tiny_lm[1]
    assert len(res.samples) == 6
    for s in res.samples:  # byte tokenizer: token i is byte i of the document
        assert s.input_ids == tok(texts[s.doc_id], add_special_tokens=False)["input_ids"][3:35]
    comp["steps"][0]["skp"] = 1
    with pytest.raises(CurateError, match=r"field 'components.0.steps.0': sampler 'head': unknown parameter 'skp'"):
        recipe(corpus, components=[comp])


class Lines(Source):
    """A plug-in source type: ``{type: lines, text: ..., n: ...}`` gives n numbered documents."""

    name = "lines"
    domain = "test"

    class Spec(SourceSpec):
        type: Literal["lines"]
        text: str
        n: int = Field(default=10, gt=0)

    def __init__(self, spec, seed: int = 0):
        self.spec = spec

    def documents(self):
        for i in range(self.spec.n):
            yield f"line{i}", f"line{i}", f"{i} {self.spec.text}"


class Constant(Source):
    """A plug-in source type without a Spec: its block takes only ``type``."""

    name = "constant"

    def __init__(self, spec, seed: int = 0):
        pass

    def documents(self):
        yield "c", "c", "constant text " * 40


def test_plugin_source_type_named_in_a_recipe(tmp_path, tiny_lm, register):
    register(SOURCE_TYPES, "lines", Lines)
    register(SOURCE_TYPES, "constant", Constant)
    text = "abcdefghijklmnopqrstuvwxyz " * 3
    r = parse_recipe({"name": "t", "seq_len": 32, "n_samples": 4, "components": [
        {"source": {"type": "lines", "text": text, "n": 5}},
        {"source": {"type": "constant"}}]})
    res = build_recipe(r, tmp_path, ctx=ctx(tiny_lm), progress=False)
    assert [s["name"] for s in res.manifest["sources"]] == ["lines", "constant"]
    assert res.manifest["recipe"]["components"][0]["source"] == {"type": "lines", "text": text, "n": 5}
    assert {s.source for s in res.samples} == {"lines", "constant"}
    assert all(s.text in f"{s.doc_id.split('@')[0][4:]} {text}" for s in res.samples if s.source == "lines")
    with pytest.raises(CurateError, match=r"field 'components.0.source.x': unknown field"):
        parse_recipe({"name": "t", "seq_len": 32, "n_samples": 4,
                      "components": [{"source": {"type": "constant", "x": 1}}]})


class Echo:
    """A plug-in generation backend: continues every prompt with its last token repeated."""

    made: ClassVar[list] = []

    @classmethod
    def from_context(cls, ctx, *, seed, batch_size):
        cls.made.append((seed, batch_size))
        return cls()

    def generate(self, prompts, max_new_tokens, cfg, seed, progress=True):
        return [[p[-1]] * m for p, m in zip(prompts, max_new_tokens, strict=True)]


def test_plugin_generation_backend_named_in_a_recipe(tmp_path, corpus, tiny_lm, register):
    from curate.generation import GENERATION_BACKENDS

    register(GENERATION_BACKENDS, "echo", Echo)
    comp = {"source": {"type": "files", "paths": [str(corpus)]},
            "steps": [{"type": "generate", "prefix_tokens": 3, "backend": "echo", "batch_size": 2}]}
    res = build_recipe(recipe(corpus, components=[comp]), tmp_path, ctx=ctx(tiny_lm), progress=False)
    assert Echo.made[-1][1] == 2
    assert all(s.input_ids[3:] == [s.input_ids[2]] * 29 for s in res.samples)
    assert {s.meta["backend"] for s in res.samples} == {"echo"}
    comp["steps"][0]["backend"] = "ecoh"
    with pytest.raises(CurateError, match=r"field 'components.0.steps.0.backend': unknown generation backend "
                                          r"'ecoh'; did you mean 'echo'\?"):
        recipe(corpus, components=[comp])
