"""Expert coverage on disk: ``<version>/extras/expert_coverage.json``, and its one-line summary.

    store_coverage("out/default/v1.0.0", cov, model="runs/moe")  # + the card re-rendered
    summary_line(read_coverage("out/default/v1.0.0"))          # "entropy 0.93 (min 0.81), 3/240 experts < 11 tokens"

Written by ``curate score --scores expert_coverage``; read by ``curate show``, the dataset card
(every ``extras/*.json`` becomes a section) and ``curate validate``'s report (beside retention).
Like every extra, it is outside the set's fingerprint.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from curate.errors import CurateError

FILE = "expert_coverage.json"
# The columns a table shows beside retention, in this order.
SUMMARY_KEYS = ("entropy_mean", "entropy_min", "experts_under_min", "experts", "min_tokens", "experts_unreached")


def store_coverage(version_dir: str | Path, cov: dict[str, Any], *, model: str) -> Path:
    """Write ``extras/expert_coverage.json`` and re-render the card; returns the file."""
    from curate.files import atomic_json
    from curate.sets.card import rerender_card
    from curate.sets.layout import EXTRAS

    path = Path(version_dir) / EXTRAS / FILE
    atomic_json(path, {"model": model, **cov, "scored_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    try:
        rerender_card(version_dir)
    except CurateError:
        pass  # a folder without a manifest has no card; the JSON is still the record
    return path


def read_coverage(version_dir: str | Path | None) -> dict[str, Any] | None:
    """The stored coverage of a set version, or None when it was never scored for it."""
    import json

    if version_dir is None:
        return None
    from curate.sets.layout import EXTRAS

    path = Path(version_dir) / EXTRAS / FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise CurateError(f"{path} is not valid JSON: {exc}", hint="rewrite it with curate score --scores expert_coverage") from exc


def summary_line(cov: dict[str, Any] | None) -> str:
    if not cov:
        return "-"
    return (f"entropy {cov['entropy_mean']:.3f} (min {cov['entropy_min']:.3f}), {cov['experts_under_min']}/"
            f"{cov['experts']} experts < {cov['min_tokens']} tokens, on {cov.get('model', '?')}")
