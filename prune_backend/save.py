"""Save a pruned model: safetensors weights + config + tokenizer + sparsity report, atomically.

    from prune_backend import save_pruned
    save_pruned(model, tokenizer, "out/wanda-50", report)
    # out/wanda-50/{config.json, model.safetensors, tokenizer.json, ..., sparsity_report.json, .parquet}

The folder reloads with ``AutoModelForCausalLM.from_pretrained("out/wanda-50")``. It is written
to a temporary sibling and renamed into place, so a failure never leaves half a model.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from prune_backend.errors import PruneError
from prune_backend.report import PruneReport, QuantReport


def save_pruned(model, tokenizer, out_dir: str | Path, report: PruneReport | QuantReport | None = None, *,
                overwrite: bool = False) -> Path:
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise PruneError(f"output folder {out} is not empty", hint="choose a new --out folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        if tokenizer is not None:
            tokenizer.save_pretrained(tmp)
        if report is not None:
            report.write(tmp)
            (tmp / report.config_file).write_text(json.dumps(report.config, indent=2))
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
