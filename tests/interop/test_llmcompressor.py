"""A curate set through llm-compressor for real: oneshot Wanda / SparseGPT / GPTQ and the adapter.

    make test-llmc     # .venv-llmc (llmcompressor 0.14.0.1, transformers 5.17.0), curate from the checkout

Skips where llmcompressor is not installed (curate's own .venv). One 8 x 128 set of the bundled
Wikipedia, built once with the bundled model's tokenizer, feeds every run; the properties checked
are the ones that prove the set reached the algorithm: the README's one line gives the same
masks as the adapter's explicit input_ids/attention_mask path, llm-compressor's Wanda chooses
(almost) the same weights as prune_backend's own Wanda, sparsity is exact, GPTQ leaves every
weight on its 4-bit group grid, and the compressed model still predicts held-out text.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest

llmc = pytest.importorskip("llmcompressor")
torch = pytest.importorskip("torch")

pytestmark = [pytest.mark.llmcompressor, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
N, L = 8, 128
G = 64  # GPTQ group size (divides 576 and 1536)


@pytest.fixture(scope="module")
def curate_set(tmp_path_factory):
    """Path of an 8 x 128 version of the bundled wiki-windows recipe (random Wikipedia windows)."""
    from curate.build import build_recipe
    from curate.recipe import load_recipe

    recipe = load_recipe("wiki-windows", [f"n_samples={N}", f"seq_len={L}"])
    return build_recipe(recipe, tmp_path_factory.mktemp("sets") / "out", progress=False).path


@pytest.fixture(scope="module")
def dense():
    from curate.models import load_model

    model, tok, _ = load_model("smollm2-135m")
    return model, tok


@pytest.fixture(scope="module")
def heldout(dense):
    from curate.evaluate.texts import build_windows, resolve_text

    return build_windows(resolve_text("heldout:wikipedia"), dense[1], 256, 2).input_ids  # (2, 256)


def _wanda(sparsity: float = 0.5):
    from llmcompressor.modifiers.pruning import WandaPruningModifier

    return [WandaPruningModifier(sparsity=sparsity, mask_structure="0:0", targets=[r"re:.*layers\.\d+$"],
                                 ignore=["re:.*lm_head"])]


def _linears(model) -> dict[str, torch.nn.Linear]:
    from curate.models import decoder_layers

    return {f"{i}.{n}": m for i, layer in enumerate(decoder_layers(model))
            for n, m in layer.named_modules() if isinstance(m, torch.nn.Linear)}


def readme_llmc_line() -> str:
    """The llm-compressor line of the README section "Feeding a curate set to your compressor"."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Feeding a curate set to your compressor", 1)[1].split("\n## ", 1)[0]
    lines = [ln.strip() for ln in section.splitlines() if ln.strip().startswith("oneshot(")]
    assert len(lines) == 1, "the README section must show exactly one oneshot(...) line"
    return lines[0]


def test_readme_line_feeds_oneshot_same_as_adapter(curate_set, dense, tmp_path, monkeypatch):
    """The README's line, run verbatim, calibrates on the set exactly as the adapter does."""
    from datasets import load_from_disk
    from llmcompressor import oneshot

    from prune_backend import PruneConfig, prune_model

    line = readme_llmc_line()
    assert re.search(r'load_from_disk\("out/default/v1\.0\.0"\)', line), line
    # The README names out/default/v1.0.0; point that path at the test set.
    (tmp_path / "out" / "default").mkdir(parents=True)
    (tmp_path / "out" / "default" / "v1.0.0").symlink_to(curate_set, target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    model, recipe = copy.deepcopy(dense[0]), _wanda()
    exec(line, {"oneshot": oneshot, "load_from_disk": load_from_disk, "model": model, "recipe": recipe})

    from curate.sets.read import load_set

    ids = load_set(curate_set).input_ids()  # (N, L)
    assert ids.shape == (N, L)
    via_adapter = copy.deepcopy(dense[0])
    report = prune_model(via_adapter, ids, PruneConfig(method="llmcompressor-wanda", sparsity=0.5), progress=False)
    a, b = _linears(model), _linears(via_adapter)
    assert a.keys() == b.keys() and len(a) == 30 * 7
    # Same tokens in, (nearly) the same weights out. Not exactly: oneshot runs the README line's
    # batches through layer 0 with other shapes than the adapter, so attention (SDPA) and the
    # matmuls reduce in another order and flip a few near-tie weights of o_proj/gate/up/down
    # (seen in CI: layer-0 down_proj differed; locally it was exact).
    for name in (k for k in a if k.startswith("0.")):
        pruned = int((b[name].weight == 0).sum())
        same = int(((a[name].weight == 0) & (b[name].weight == 0)).sum())
        assert same / pruned > 0.999, (name, pruned - same)
    # Past layer 0 the two runs differ only by float noise (sample order and batching inside
    # oneshot: 8192/4096 in the README line vs L/N in the adapter) that flips near-tie weights and
    # grows with depth. Measured on main (this machine and CI alike): 99.75 % of the pruned
    # positions shared, every layer >= 99.5 %; the same adapter on another 8 x 128 draw of the
    # same recipe shares only 96.1 % (every layer <= 97.3 %), so these bounds still tell
    # "same data in" from "other data in".
    def share(keys) -> float:
        keys = list(keys)
        same = sum(int(((a[k].weight == 0) & (b[k].weight == 0)).sum()) for k in keys)
        return same / sum(int((b[k].weight == 0).sum()) for k in keys)

    assert share(a) > 0.995
    per_layer = [share(k for k in a if k.startswith(f"{i}.")) for i in range(30)]
    assert min(per_layer) > 0.99, per_layer
    # The adapter's report reads the pruned weights back: exactly half of every row is zero.
    assert len(report.layers) == 30 * 7 and all(abs(r["actual"] - 0.5) < 1e-6 for r in report.layers)
    for name, mod in a.items():
        per_row = (mod.weight == 0).sum(1)
        assert int(per_row.min()) == int(per_row.max()) == mod.weight.shape[1] // 2, name


def test_llmc_wanda_matches_ours_on_layer0(curate_set, dense):
    """Same set, same layer-0 inputs: llm-compressor's Wanda and ours prune the same weights."""
    from curate.sets.read import load_set
    from prune_backend import PruneConfig, prune_model

    ids = load_set(curate_set).input_ids()
    theirs, ours = copy.deepcopy(dense[0]), copy.deepcopy(dense[0])
    prune_model(theirs, ids, PruneConfig(method="llmcompressor-wanda", sparsity=0.5), progress=False)
    prune_model(ours, ids, PruneConfig(method="wanda", sparsity=0.5), progress=False)
    a, b = _linears(theirs), _linears(ours)
    layer0 = [k for k in a if k.startswith("0.")]
    shared = sum(int(((a[k].weight == 0) & (b[k].weight == 0)).sum()) for k in layer0)
    total = sum(int((b[k].weight == 0).sum()) for k in layer0)
    # Only float ties at the threshold may differ (summation order of the activation norms).
    assert shared / total > 0.999, shared / total
    # Later layers see inputs that already went through two (slightly) different pruned layers.
    shared_all = sum(int(((a[k].weight == 0) & (b[k].weight == 0)).sum()) for k in a)
    assert shared_all / sum(int((b[k].weight == 0).sum()) for k in b) > 0.95


def test_llmc_sparsegpt_adapter_2of4(curate_set, dense, heldout):
    """llm-compressor's SparseGPT through prune_backend: valid 2:4 everywhere, model still works."""
    from curate.evaluate.perplexity import perplexity
    from curate.sets.read import load_set
    from prune_backend import PruneConfig, prune_model

    model = copy.deepcopy(dense[0])
    ids = load_set(curate_set).input_ids()
    report = prune_model(model, ids, PruneConfig(method="llmcompressor-sparsegpt", sparsity=0.5, pattern="2:4"),
                         progress=False)
    for name, mod in _linears(model).items():
        zeros = (mod.weight == 0).view(mod.weight.shape[0], -1, 4).sum(-1)  # (rows, cols/4)
        assert bool((zeros >= 2).all()), name  # at least 2 of every 4 consecutive weights are zero
    assert all(abs(r["actual"] - 0.5) < 0.01 for r in report.layers)
    dense_ppl, ppl = perplexity(dense[0], heldout), perplexity(model, heldout)
    assert dense_ppl < ppl < 20 * dense_ppl, (dense_ppl, ppl)  # pruned hurts, but it is a language model


def test_oneshot_gptq_w4g64_on_curate_set(curate_set, dense, heldout):
    """GPTQ W4 (group 64, symmetric) with the set: every weight is scale * an int4, and the
    quantized model stays close to the dense one on held-out text. Group 64, not the usual 128:
    llm-compressor refuses groups that do not divide the columns, and SmolLM2's hidden size is
    576 = 4.5 x 128."""
    from datasets import load_from_disk
    from llmcompressor import oneshot
    from llmcompressor.modifiers.gptq import GPTQModifier

    from curate.evaluate.perplexity import perplexity

    model = copy.deepcopy(dense[0])
    ds = load_from_disk(str(curate_set)).select_columns(["input_ids"])
    w4g64 = {"num_bits": 4, "type": "int", "symmetric": True, "strategy": "group", "group_size": G}
    recipe = [GPTQModifier(config_groups={"w4g64": {"targets": ["Linear"], "weights": w4g64}}, ignore=["lm_head"])]
    oneshot(model=model, dataset=ds, recipe=recipe, num_calibration_samples=N, max_seq_length=L)
    lin = _linears(model)
    for name in ("0.self_attn.q_proj", "0.mlp.down_proj", "29.mlp.gate_proj"):
        mod = lin[name]
        W = mod.weight.detach().float()  # (out, in)
        scale = mod.weight_scale.detach().float()  # (out, in / G)
        assert scale.shape == (W.shape[0], W.shape[1] // G), (name, scale.shape)
        q = W / scale.repeat_interleave(G, dim=1)
        assert (q - q.round()).abs().max() < 1e-3, name  # on the grid
        assert q.round().min() >= -8 and q.round().max() <= 7, name  # signed int4
    dense_ppl, ppl = perplexity(dense[0], heldout), perplexity(model, heldout)
    # Still a language model, but not close to dense: 8 x 128 = 1,024 calibration tokens are far
    # too few for a 1536-column Hessian (down_proj), so GPTQ fits the calibration tokens, not the
    # text (measured: 12.98 -> 26.68 held-out; benchmarks/NOTES.md has the 32 x 512 figures).
    assert dense_ppl < ppl < 2.5 * dense_ppl, (dense_ppl, ppl)
