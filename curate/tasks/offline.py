"""``custom_dataset`` of curate's offline accuracy tasks: the committed ``data/<task>.jsonl``.

    from curate.tasks.offline import load
    ds = load(task_file="lastword_wikipedia")     # DatasetDict(test: ~300 items)

lm-eval calls ``load(**metadata, **dataset_kwargs)``; each task YAML names its file in
``dataset_kwargs: {task_file: ...}``. The files are built by ``python -m curate.tasks.build``
(fixed seed, held out from every calibration split; see :mod:`curate.tasks.build`).
"""

from __future__ import annotations

import json
from typing import Any

from curate.errors import CurateError


def read_items(task_file: str) -> list[dict[str, Any]]:
    from curate.resources import task_data_dir

    path = task_data_dir() / f"{task_file}.jsonl"
    if not path.exists():
        raise CurateError(f"task data {path} is missing", hint="rebuild it: python -m curate.tasks.build")
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def load(task_file: str, **_: Any):
    """DatasetDict with a ``test`` split (the items in file order)."""
    import datasets

    return datasets.DatasetDict({"test": datasets.Dataset.from_list(read_items(task_file))})
