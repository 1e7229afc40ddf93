"""What to prune and how: :class:`PruneConfig`, validated on construction, before any model loads.

    from prune_backend import PruneConfig
    cfg = PruneConfig(method="wanda", pattern="2:4")
    cfg.nm, cfg.sparsity        # (2, 4), 0.5: 2:4 keeps 2 of every 4 weights
    PruneConfig(method="sparsegpt", pattern="1:4").sparsity   # 0.75

N:M follows the literature (Mishra et al. 2021, "Accelerating Sparse Deep Neural Networks";
Sun et al. 2024 and Frantar & Alistarh 2023 use the same reading): at most N non-zeros in
every M consecutive inputs of a row, so the sparsity is 1 - N/M (2:4 and 4:8 = 50 %, 1:4 and
2:8 = 75 %). With a pattern the sparsity follows from it: passing it is optional and a
different value is an error.

Bad input raises a one-line :class:`prune_backend.errors.PruneError` naming the field and the
fix: an unknown field, sparsity outside (0, 1), a pattern that is not N:M with 0 < N < M, a
sparsity that contradicts the pattern, OWL with an N:M pattern (OWL's layer ratios are
non-uniform, N:M is uniform by construction), OWL's M / lambda out of range, an unknown method
(did-you-mean from the registry; nothing is imported to check it).
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from prune_backend.errors import PruneError

_NM = re.compile(r"^\s*(\d+)\s*:\s*(\d+)\s*$")


def parse_pattern(pattern: str) -> tuple[int, int] | None:
    """``"unstructured"`` -> None; ``"2:4"`` -> (2, 4) = (N kept, group size M). Else a PruneError."""
    if pattern == "unstructured":
        return None
    m = _NM.match(str(pattern))
    if not m:
        raise PruneError(f"pattern '{pattern}' is not understood",
                         hint="use 'unstructured' or N:M such as '2:4', which keeps 2 of every 4 weights")
    n, mm = int(m.group(1)), int(m.group(2))
    if not 0 < n < mm:
        raise PruneError(f"pattern '{pattern}' needs 0 < N < M", hint="N:M keeps N of every M weights, e.g. '2:4'")
    return n, mm


def check_device(device: str | None) -> str | None:
    """A device string torch understands and this machine has, checked once where a spec is made
    (``banana``, or ``cuda`` on a CPU-only torch, fails before any work). None: the default."""
    if device is None:
        return None
    import torch

    try:
        d = torch.device(str(device))
    except (RuntimeError, ValueError, TypeError):
        raise ValueError(f"device '{device}' is not a torch device (use cpu, cuda, cuda:N or mps)") from None
    if d.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device '{device}': this torch has no usable CUDA "
                             f"({'CPU-only build' if torch.version.cuda is None else 'no GPU visible'}); use cpu")
        if d.index is not None and d.index >= torch.cuda.device_count():
            raise ValueError(f"device '{device}': only {torch.cuda.device_count()} CUDA device(s) are visible")
    elif d.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device '{device}': MPS is not available here; use cpu")
    elif d.type not in ("cpu", "cuda", "mps", "xpu"):
        raise ValueError(f"device '{device}' cannot run a model here (use cpu, cuda, cuda:N or mps)")
    return str(device)


Device = Annotated[str | None, AfterValidator(check_device)]


def pattern_sparsity(n: int, m: int) -> float:
    """Fraction of zeros of an N:M pattern: 1 - N/M."""
    return 1.0 - n / m


class MoECalibration(BaseModel):
    """How the experts of a mixture-of-experts layer get their statistics (pruning and quantization).

    ``routed``: each expert's statistics (input norms, X^T X) count the tokens its router sent to
    it; ``all``: every calibration token (statistics only, the layer's output stays routed;
    llm-compressor's ``moe_calibrate_all_experts``). An expert whose statistics count fewer than
    ``min_expert_tokens`` tokens falls back to ``all-tokens`` statistics, or to ``magnitude``
    (pruning by |W|; for quantization round-to-nearest). Each expert's tokens and fallback are
    in the report. Dense models ignore these fields.
    """

    model_config = ConfigDict(extra="forbid")

    moe_calibration: Literal["routed", "all"] = Field(
        "routed", description="MoE: expert statistics from the tokens routed to each expert, or from all tokens")
    min_expert_tokens: int = Field(1, ge=1, description="MoE: an expert whose statistics count fewer tokens "
                                                        "takes the expert fallback")
    expert_fallback: Literal["all-tokens", "magnitude"] = Field(
        "all-tokens", description="MoE: statistics of all tokens, or magnitude (quantization: round-to-nearest), "
                                  "for an expert under min-expert-tokens")

    def moe_options(self) -> dict[str, Any]:
        return {"moe_calibration": self.moe_calibration, "min_expert_tokens": self.min_expert_tokens,
                "expert_fallback": self.expert_fallback}


class PruneConfig(MoECalibration):
    """Configuration of one pruning run (see the module docstring); one field per command-line knob.

    ``owl_m`` / ``owl_lambda`` are OWL's outlier threshold M and its layer-ratio spread lambda
    (Yin et al. 2024, defaults 5 and 0.08). The ``dsnot_*`` fields are DSnoT's hyper-parameters
    with the reference implementation's defaults (Zhang et al. 2024): at most 50 prune-and-grow
    cycles per row, stop when |expected error| <= 0.1, variance power 1 in the grow criterion,
    and the MLP linears skipped ("skip_layer mlp" in the reference code).
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    method: str = Field("wanda", description="pruning method: magnitude, wanda, sparsegpt, llmcompressor-wanda, "
                                             "llmcompressor-sparsegpt, or one registered by a plug-in")
    sparsity: float | None = Field(None, description="fraction of zeros in (0, 1); default 0.5, or 1 - N/M "
                                                     "with an N:M pattern")
    pattern: str = Field("unstructured", description="'unstructured' or N:M: keep at most N of every M "
                                                     "consecutive weights (2:4 = 50 %, 1:4 = 75 %)")
    owl: bool = Field(False, description="OWL layerwise sparsity ratios (Yin et al. 2024)")
    owl_m: float = Field(5.0, gt=0, description="OWL outlier threshold M")
    owl_lambda: float = Field(0.08, ge=0, description="OWL layer-ratio spread lambda")
    dsnot: bool = Field(False, description="DSnoT prune-and-grow on top of the method's mask (Zhang et al. 2024)")
    dsnot_max_cycles: int = Field(50, ge=1, description="DSnoT prune-and-grow cycles per row")
    dsnot_threshold: float = Field(0.1, ge=0, description="DSnoT stops a row when |expected error| <= this")
    dsnot_var_power: float = Field(1.0, description="DSnoT variance power in the grow criterion")
    dsnot_skip: tuple[str, ...] = Field(("mlp",), description="DSnoT skips linears under these module names")
    blocksize: int = Field(128, ge=1, description="SparseGPT block size (columns per lazy update)")
    percdamp: float = Field(0.01, gt=0, description="SparseGPT dampening, a fraction of mean(diag H)")
    device: Device = Field(None, description="compute device (default: cuda if available, else cpu)")
    batch_size: int = Field(8, ge=1, description="calibration sequences per forward")
    # SparseGPT speed knobs (results equal up to fp32 summation order): X^T X from fp16/bf16
    # CUDA inputs on tensor cores with fp32 accumulation unless hessian_fp32; the column loop
    # "eager" (Python), "graph" (CUDA graph per block) or "auto" (graph on CUDA).
    hessian_fp32: bool = Field(False, description="SparseGPT: accumulate X^T X from fp32 inputs (exact path)")
    sparsegpt_solver: Literal["auto", "eager", "graph"] = Field(
        "auto", description="SparseGPT column loop: eager, graph (CUDA graph per block) or auto (graph on CUDA)")
    # Which calibration tokens the statistics (column norms, X^T X) count: all, or only those a
    # 0/1 (N, L) ``stat_mask`` beside input_ids marks (a chat set's assistant tokens).
    mask: Literal["none", "assistant"] = Field(
        "none", description="statistics over all tokens (none) or only the set's assistant tokens (assistant)")

    def __init__(self, **data: Any):
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise PruneError(_one_line(exc)) from None

    @field_validator("sparsity")
    @classmethod
    def _sparsity_range(cls, s: float | None) -> float | None:
        if s is not None and not 0.0 < s < 1.0:
            raise PruneError(f"sparsity {s:g} is outside (0, 1)", hint="pass a fraction of zeros such as 0.5")
        return s

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, p: str) -> str:
        nm = parse_pattern(p)
        return "unstructured" if nm is None else f"{nm[0]}:{nm[1]}"

    @field_validator("method")
    @classmethod
    def _method(cls, name: str) -> str:
        from prune_backend.registry import METHODS

        METHODS.check(name)
        return name

    @model_validator(mode="after")
    def _consistent(self) -> PruneConfig:
        nm = self.nm
        if nm is not None:
            implied = pattern_sparsity(*nm)
            if self.sparsity is not None and not math.isclose(self.sparsity, implied, abs_tol=1e-6):
                raise PruneError(
                    f"sparsity {self.sparsity:g} contradicts pattern {self.pattern}, which keeps {nm[0]} of every "
                    f"{nm[1]} weights (sparsity {implied:g})",
                    hint=f"drop the sparsity or set it to {implied:g}")
            self.sparsity = implied
            if self.owl:
                raise PruneError("owl needs pattern 'unstructured'",
                                 hint="OWL gives each layer its own ratio; N:M fixes the ratio everywhere")
        elif self.sparsity is None:
            self.sparsity = 0.5
        s = self.sparsity
        if self.owl and not self.owl_lambda < min(s, 1 - s):
            raise PruneError(f"owl_lambda {self.owl_lambda:g} is out of range for sparsity {s:g}",
                             hint=f"need 0 <= owl_lambda < min(sparsity, 1 - sparsity) = {min(s, 1 - s):g}; "
                                  "paper: 0.08")
        return self

    @property
    def nm(self) -> tuple[int, int] | None:
        """(N kept, M) of an N:M pattern, None when unstructured."""
        return parse_pattern(self.pattern)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def _one_line(exc: ValidationError) -> str:
    """``field: reason`` of the first error of a pydantic ValidationError."""
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or "config"
    if err["type"] == "extra_forbidden":
        return f"unknown field '{field}' of the pruning config"
    return f"{field}: {err['msg']}"
