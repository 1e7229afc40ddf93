"""The reports of a compression run: one row per compressed matrix and one per expert, as JSON and parquet.

    report = prune_model(model, ids, PruneConfig(method="wanda"))
    report.total_sparsity            # 0.5: zeros over every matrix the run pruned
    report.decoder_sparsity          # zeros over every decoder weight matrix, routers included (measured)
    report.experts                   # per expert: layer, tokens routed, statistics tokens, fallback, target, actual
    report.write("out/pruned")       # sparsity_report.json + sparsity_report.parquet

    report = quantize_model(model, ids, QuantConfig(method="gptq", bits=4))
    report.max_levels                # <= 16: distinct values in any (row, group) of any matrix

:class:`Report` holds what both kinds share (method, config, rows, per-expert rows, seconds,
device, calibration shape) and writes the files; :class:`PruneReport` and :class:`QuantReport`
add their own numbers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar


@dataclass(kw_only=True)
class Report:
    """Shared by pruning and quantization: ``layers`` has one row per compressed matrix (a linear or
    one expert's gate / up / down), ``experts`` one row per expert of every MoE layer."""

    config_file: ClassVar[str] = "config.json"  # where save_pruned writes ``config``
    json_name: ClassVar[str] = "report.json"
    parquet_name: ClassVar[str] = "report.parquet"

    method: str
    config: dict[str, Any] = field(default_factory=dict)
    layers: list[dict[str, Any]] = field(default_factory=list)
    experts: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    device: str = "cpu"
    nsamples: int = 0
    seqlen: int = 0

    def own(self) -> dict[str, Any]:
        """The kind's own fields of the JSON payload."""
        return {}

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, **self.own(), "seconds": self.seconds, "device": self.device,
                "nsamples": self.nsamples, "seqlen": self.seqlen, "config": self.config, "experts": self.experts,
                "layers": self.layers}

    def write(self, out_dir: str | Path) -> tuple[Path, Path]:
        """``<json_name>`` (everything) and ``<parquet_name>`` (the per-matrix rows) in ``out_dir``."""
        import polars as pl

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        js = out / self.json_name
        js.write_text(json.dumps(self.to_dict(), indent=2))
        pq = out / self.parquet_name
        pl.DataFrame(self.layers, infer_schema_length=None).write_parquet(pq)
        return js, pq


@dataclass(kw_only=True)
class PruneReport(Report):
    """Rows: name, layer, linear, expert, shape, method, pattern, target, actual, zeros, numel, seconds."""

    config_file: ClassVar[str] = "prune_config.json"
    json_name: ClassVar[str] = "sparsity_report.json"
    parquet_name: ClassVar[str] = "sparsity_report.parquet"

    pattern: str
    sparsity: float
    layer_sparsity: list[float] = field(default_factory=list)  # per decoder layer target (OWL)
    outlier_ratios: list[float] = field(default_factory=list)  # OWL's D_l in %, if computed
    decoder_sparsity: float | None = None  # measured over every decoder weight matrix, routers included

    @property
    def total_sparsity(self) -> float:
        zeros = sum(r["zeros"] for r in self.layers)
        numel = sum(r["numel"] for r in self.layers)
        return zeros / numel if numel else 0.0

    def own(self) -> dict[str, Any]:
        return {"pattern": self.pattern, "sparsity": self.sparsity, "total_sparsity": self.total_sparsity,
                "decoder_sparsity": self.decoder_sparsity, "layer_sparsity": self.layer_sparsity,
                "outlier_ratios": self.outlier_ratios}


@dataclass(kw_only=True)
class QuantReport(Report):
    """Rows: name, layer, linear, expert, shape, bits, group_size, levels, weight_rel_error, seconds."""

    config_file: ClassVar[str] = "quant_config.json"
    json_name: ClassVar[str] = "quant_report.json"
    parquet_name: ClassVar[str] = "quant_report.parquet"

    bits: int
    group_size: int

    @property
    def max_levels(self) -> int:
        """Most distinct values in one (row, group) of any matrix: <= 2^bits when on the grid."""
        return max((r["levels"] for r in self.layers), default=0)

    def own(self) -> dict[str, Any]:
        return {"bits": self.bits, "group_size": self.group_size, "max_levels": self.max_levels}
