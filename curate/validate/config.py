"""What ``curate validate`` runs: :class:`ValidateConfig`, one field per flag, checked before any model loads.

    from prune_backend import PruneConfig
    from curate.validate import ValidateConfig
    cfg = ValidateConfig(sets=["out/default"], prune=PruneConfig(method="sparsegpt", pattern="2:4"))

The pruning half is the very :class:`prune_backend.PruneConfig` that ``curate prune`` uses, so
both commands accept the same knobs and refuse the same contradictions with the same message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from curate.evaluate.evaluator import EvalConfig
from prune_backend.config import Device, MoECalibration, PruneConfig
from prune_backend.quant.config import QuantConfig


class ValidateConfig(BaseModel):
    """Everything ``curate validate`` needs; one field per CLI flag."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    sets: list[str] = Field(min_length=1, description="set folders (curate versions) or dataset files")
    out: Path = Path("validate-out")
    model: str = "smollm2-135m"
    dtype: str = "float32"
    device: Device = None
    prune: PruneConfig = Field(default_factory=PruneConfig)
    seeds: int = Field(3, ge=1, description="draws per set, seeds 0..K-1")
    nsamples: int | None = Field(None, ge=1, description="rows per draw; default: half the set, at most 128")
    draw: Literal["resample", "rebuild"] = "resample"
    rebuild_dir: Path | None = Field(None, description="where --draw rebuild builds each seed's set (default: "
                                                       "<out>/rebuilt); a recipe + seed already built there is reused")
    eval: EvalConfig = Field(default_factory=EvalConfig)
    progress: bool = True
    retokenize: bool = False
    quant: QuantConfig | None = Field(None, description="quantize (GPTQ or RTN, fake-quantized) instead of pruning")
    store: Path | None = Field(None, description="results store of curate predict: the tidy rows and the sets' "
                                                 "features are appended there after the run")
    # Where the draws run (never part of a draw's key: local and ray resume each other's draws).
    executor: Literal["local", "ray"] = Field("local", description="local: one draw after another in this "
                                              "process; ray: each draw a Ray task (RAY_ADDRESS or a local cluster)")
    num_gpus: float | None = Field(None, ge=0, description="GPUs per Ray task (default: 1 where the cluster has GPUs)")
    num_cpus: float | None = Field(None, gt=0, description="CPUs per Ray task (default: 1)")
    max_retries: int = Field(2, ge=0, description="Ray retries of a draw whose worker died, before it is a failed draw")

    @model_validator(mode="after")
    def _ray_knobs_need_ray(self) -> ValidateConfig:
        if self.executor == "local" and (self.num_gpus is not None or self.num_cpus is not None):
            raise ValueError("--num-gpus / --num-cpus (num_gpus / num_cpus) are resources of Ray tasks: "
                             "they need --executor ray")
        return self

    @property
    def compression(self) -> PruneConfig | QuantConfig:
        """What each draw does to the model: quantize when ``quant`` is set, else prune."""
        return self.quant if self.quant is not None else self.prune

    def prune_key(self) -> dict[str, Any]:
        """The compression knobs that change a draw's result (not where or in what batches it runs)."""
        knobs = self.compression.model_dump(mode="json", exclude={"device", "batch_size"})
        if knobs.get("mask") == "none":
            del knobs["mask"]  # unmasked draws keep the keys they had before the field existed
        moe_defaults = {k: f.default for k, f in MoECalibration.model_fields.items()}
        for k, default in moe_defaults.items():  # likewise the MoE options at their defaults
            if knobs.get(k) == default:
                del knobs[k]
        return knobs if self.quant is None else {"quantize": knobs}  # pruning keys as before: draws resume

    @property
    def method_label(self) -> str:
        from prune_backend.compress import describe

        return describe(self.compression)["label"]

    @property
    def sparsity_label(self) -> float | None:
        """The table's ``sparsity`` column: the pruning target; none for quantization."""
        return None if self.quant is not None else self.prune.sparsity

    @property
    def pattern_label(self) -> str:
        """The table's ``pattern`` column: N:M or unstructured; ``W<bits> g<group>`` for quantization."""
        q = self.quant
        return self.prune.pattern if q is None else f"W{q.bits} g{q.group_size}"
