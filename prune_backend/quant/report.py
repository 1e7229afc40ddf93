"""The report of a quantization run: one row per quantized linear, written as JSON and parquet.

    report = quantize_model(model, ids, QuantConfig(method="gptq", bits=4))
    report.max_levels                # <= 16: distinct values in any (row, group) of any linear
    report.write("out/gptq-w4")      # quant_report.json + quant_report.parquet
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

REPORT_JSON = "quant_report.json"
REPORT_PARQUET = "quant_report.parquet"


@dataclass
class QuantReport:
    """Per-linear rows: name, layer, shape, bits, group_size, levels, weight_rel_error, seconds."""

    #: file :func:`prune_backend.save.save_pruned` writes ``config`` to
    config_file: ClassVar[str] = "quant_config.json"

    method: str
    bits: int
    group_size: int
    config: dict[str, Any] = field(default_factory=dict)
    layers: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    device: str = "cpu"
    nsamples: int = 0
    seqlen: int = 0

    @property
    def max_levels(self) -> int:
        """Most distinct values in one (row, group) of any linear: <= 2^bits when on the grid."""
        return max((r["levels"] for r in self.layers), default=0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method, "bits": self.bits, "group_size": self.group_size,
            "max_levels": self.max_levels, "seconds": self.seconds, "device": self.device,
            "nsamples": self.nsamples, "seqlen": self.seqlen, "config": self.config, "layers": self.layers,
        }

    def write(self, out_dir: str | Path) -> tuple[Path, Path]:
        from prune_backend.report import write_report_files

        return write_report_files(out_dir, self.to_dict(), self.layers, REPORT_JSON, REPORT_PARQUET)
