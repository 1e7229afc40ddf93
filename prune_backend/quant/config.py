"""What to quantize and how: :class:`QuantConfig`, validated on construction, before any model loads.

    from prune_backend.quant import QuantConfig
    cfg = QuantConfig(method="gptq", bits=4, group_size=128, act_order=True)
    cfg.label                   # 'gptq W4 g128 sym act-order'

Bad input raises a one-line :class:`prune_backend.errors.PruneError` naming the field and the
fix: an unknown field, bits outside 2..8, a group size that is neither -1 nor >= 1,
act-order / static groups with round-to-nearest (which has no column order), static groups
without groups.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, ValidationError, model_validator

from prune_backend.config import Device, MoECalibration
from prune_backend.errors import PruneError


class QuantConfig(MoECalibration):
    """One weight-only quantization run; one field per command-line knob of ``curate quantize``.

    Field names follow GPTQModel / AutoGPTQ (``desc_act`` is ``act_order`` here, as in the GPTQ
    paper's code). Every ``nn.Linear`` and every expert matrix of the decoder layers is
    quantized; embeddings, routers and lm_head stay as they are (as in the paper and both
    libraries).
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    method: Literal["gptq", "rtn"] = Field("gptq", description="gptq (Frantar et al. 2023) or rtn (round-to-nearest)")
    bits: int = Field(4, ge=2, le=8, description="bits per weight, 2..8")
    group_size: int = Field(128, description="input columns sharing one scale/zero per row; -1 = per channel")
    sym: bool = Field(True, description="symmetric grid (zero point fixed at the middle) or asymmetric")
    act_order: bool = Field(False, description="GPTQ: columns in decreasing order of H_jj (desc_act)")
    static_groups: bool = Field(False, description="GPTQ + act-order: groups fixed up front, contiguous")
    percdamp: float = Field(0.01, gt=0, le=1, description="GPTQ dampening, a fraction of mean(diag H)")
    blocksize: int = Field(128, ge=1, description="GPTQ columns per lazy block update")
    device: Device = Field(None, description="compute device (default: cuda if available, else cpu)")
    batch_size: int = Field(8, ge=1, description="calibration sequences per forward")

    def __init__(self, **data: Any):
        try:
            super().__init__(**data)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or "config"
            if err["type"] == "extra_forbidden":
                raise PruneError(f"unknown field '{field}' of the quantization config") from None
            raise PruneError(f"{field}: {err['msg']}") from None

    @model_validator(mode="after")
    def _consistent(self) -> QuantConfig:
        if self.group_size == 0 or self.group_size < -1:
            raise PruneError(f"group_size {self.group_size} is neither -1 nor >= 1",
                             hint="use 128 (one grid per 128 input columns) or -1 (per channel)")
        if self.method == "rtn" and (self.act_order or self.static_groups):
            raise PruneError("act_order / static_groups need method gptq",
                             hint="round-to-nearest quantizes every column at once, it has no column order")
        if self.static_groups and self.group_size == -1:
            raise PruneError("static_groups needs a group_size", hint="pass a group size such as 128")
        return self

    @property
    def needs_calibration(self) -> bool:
        return self.method == "gptq"

    @property
    def label(self) -> str:
        g = "per-channel" if self.group_size == -1 else f"g{self.group_size}"
        extra = (" act-order" if self.act_order else "") + (" static" if self.static_groups else "")
        return f"{self.method} W{self.bits} {g} {'sym' if self.sym else 'asym'}{extra}"

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
