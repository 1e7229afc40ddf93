"""The sparsity report of a pruning run: one row per pruned linear, written as JSON and parquet.

    report = prune_model(model, ids, PruneConfig(method="wanda"))
    report.total_sparsity            # 0.5
    report.write("out/pruned")       # sparsity_report.json + sparsity_report.parquet
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

REPORT_JSON = "sparsity_report.json"
REPORT_PARQUET = "sparsity_report.parquet"


@dataclass
class PruneReport:
    """Per-linear rows: name, layer, shape, method, pattern, target, actual, zeros, numel, seconds."""

    config_file: ClassVar[str] = "prune_config.json"  # where save_pruned writes ``config``

    method: str
    pattern: str
    sparsity: float
    config: dict[str, Any] = field(default_factory=dict)
    layers: list[dict[str, Any]] = field(default_factory=list)
    layer_sparsity: list[float] = field(default_factory=list)  # per decoder layer target (OWL)
    outlier_ratios: list[float] = field(default_factory=list)  # OWL's D_l in %, if computed
    seconds: float = 0.0
    device: str = "cpu"
    nsamples: int = 0
    seqlen: int = 0

    @property
    def total_sparsity(self) -> float:
        zeros = sum(r["zeros"] for r in self.layers)
        numel = sum(r["numel"] for r in self.layers)
        return zeros / numel if numel else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method, "pattern": self.pattern, "sparsity": self.sparsity,
            "total_sparsity": self.total_sparsity, "seconds": self.seconds, "device": self.device,
            "nsamples": self.nsamples, "seqlen": self.seqlen, "config": self.config,
            "layer_sparsity": self.layer_sparsity, "outlier_ratios": self.outlier_ratios,
            "layers": self.layers,
        }

    def write(self, out_dir: str | Path) -> tuple[Path, Path]:
        return write_report_files(out_dir, self.to_dict(), self.layers, REPORT_JSON, REPORT_PARQUET)


def write_report_files(out_dir: str | Path, payload: dict[str, Any], layers: list[dict[str, Any]],
                       json_name: str, parquet_name: str) -> tuple[Path, Path]:
    """A report as JSON (``payload``) and its per-linear rows as parquet; shared by pruning and quantization."""
    import polars as pl

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    js = out / json_name
    js.write_text(json.dumps(payload, indent=2))
    pq = out / parquet_name
    pl.DataFrame(layers).write_parquet(pq)
    return js, pq
