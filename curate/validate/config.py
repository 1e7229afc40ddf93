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

from pydantic import BaseModel, ConfigDict, Field

from curate.evaluate.evaluator import EvalConfig
from prune_backend.config import PruneConfig


class ValidateConfig(BaseModel):
    """Everything ``curate validate`` needs; one field per CLI flag."""

    model_config = ConfigDict(extra="forbid")

    sets: list[str] = Field(min_length=1, description="set folders (curate versions) or dataset files")
    out: Path = Path("validate-out")
    model: str = "smollm2-135m"
    dtype: str = "float32"
    device: str | None = None
    prune: PruneConfig = Field(default_factory=PruneConfig)
    seeds: int = Field(3, ge=1, description="draws per set, seeds 0..K-1")
    nsamples: int | None = Field(None, ge=1, description="rows per draw; default: half the set, at most 128")
    draw: Literal["resample", "rebuild"] = "resample"
    eval: EvalConfig = Field(default_factory=EvalConfig)
    progress: bool = True
    retokenize: bool = False
    store: Path | None = Field(None, description="results store of curate predict: the tidy rows and the sets' "
                                                 "features are appended there after the run")

    def prune_key(self) -> dict[str, Any]:
        """The pruning knobs that change a draw's result (not where or in what batches it runs)."""
        return self.prune.model_dump(mode="json", exclude={"device", "batch_size"})

    @property
    def method_label(self) -> str:
        p = self.prune
        return p.method + ("+owl" if p.owl else "") + ("+dsnot" if p.dsnot else "")
