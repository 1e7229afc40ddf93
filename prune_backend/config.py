"""What to prune and how: :class:`PruneConfig`, validated on construction.

    from prune_backend import PruneConfig
    cfg = PruneConfig(method="wanda", sparsity=0.5, pattern="2:4")
    cfg.nm  # -> (2, 4)

Bad input raises a one-line :class:`curate.errors.CurateError` naming the field and the fix:
sparsity outside (0, 1), an N:M pattern whose ratio N/M differs from the sparsity, OWL with an
N:M pattern (OWL's layer ratios are non-uniform, N:M is uniform by construction), an unknown
method (did-you-mean from the registry).
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from curate.errors import CurateError

_NM = re.compile(r"^\s*(\d+)\s*:\s*(\d+)\s*$")


def parse_pattern(pattern: str) -> tuple[int, int] | None:
    """``"unstructured"`` -> None, ``"2:4"`` -> (2, 4); anything else is a CurateError."""
    if pattern == "unstructured":
        return None
    m = _NM.match(str(pattern))
    if not m:
        raise CurateError(f"pattern '{pattern}' is not understood",
                          hint="use 'unstructured' or N:M such as '2:4' or '4:8'")
    n, mm = int(m.group(1)), int(m.group(2))
    if not 0 < n < mm:
        raise CurateError(f"pattern '{pattern}' needs 0 < N < M", hint="e.g. '2:4' prunes 2 of every 4 weights")
    return n, mm


@dataclass
class PruneConfig:
    """Configuration of one pruning run (see the module docstring).

    ``owl_m`` / ``owl_lambda`` are OWL's outlier threshold M and its layer-ratio spread lambda
    (Yin et al. 2024, defaults 5 and 0.08). The ``dsnot_*`` fields are DSnoT's hyper-parameters
    with the reference implementation's defaults (Zhang et al. 2024): at most 50 prune-and-grow
    cycles per row, stop when |expected error| <= 0.1, variance power 1 in the grow criterion,
    and the MLP linears skipped ("skip_layer mlp" in the reference code).
    """

    method: str = "wanda"
    sparsity: float = 0.5
    pattern: str = "unstructured"
    owl: bool = False
    owl_m: float = 5.0
    owl_lambda: float = 0.08
    dsnot: bool = False
    device: str | None = None
    batch_size: int = 8
    blocksize: int = 128
    percdamp: float = 0.01
    # SparseGPT speed knobs (results equal up to fp32 summation order): X^T X from fp16/bf16
    # CUDA inputs on tensor cores with fp32 accumulation unless hessian_fp32; the column loop
    # "eager" (Python), "graph" (CUDA graph per block) or "auto" (graph on CUDA).
    hessian_fp32: bool = False
    sparsegpt_solver: str = "auto"
    dsnot_max_cycles: int = 50
    dsnot_threshold: float = 0.1
    dsnot_var_power: float = 1.0
    dsnot_skip: tuple[str, ...] = field(default=("mlp",))

    def __post_init__(self) -> None:
        s = self.sparsity
        if not isinstance(s, (int, float)) or isinstance(s, bool) or not (0.0 < float(s) < 1.0):
            raise CurateError(f"sparsity {s!r} is outside (0, 1)", hint="pass a fraction of zeros such as 0.5")
        self.sparsity = float(s)
        nm = parse_pattern(self.pattern)
        if nm is not None:
            n, m = nm
            if not math.isclose(n / m, self.sparsity, abs_tol=1e-9):
                raise CurateError(
                    f"pattern {self.pattern} prunes {n}/{m} = {n / m:g} of the weights but sparsity is {self.sparsity:g}",
                    hint=f"pass --sparsity {n / m:g} with --pattern {self.pattern}",
                )
            if self.owl:
                raise CurateError("owl needs pattern 'unstructured'",
                                  hint="OWL gives each layer its own ratio; N:M fixes the ratio everywhere")
        if self.owl and not (self.owl_m > 0 and 0 <= self.owl_lambda < min(self.sparsity, 1 - self.sparsity)):
            raise CurateError(f"owl_m={self.owl_m} / owl_lambda={self.owl_lambda} are out of range",
                              hint="need owl_m > 0 and 0 <= owl_lambda < min(sparsity, 1 - sparsity); paper: 5 and 0.08")
        for name in ("batch_size", "blocksize"):
            if int(getattr(self, name)) < 1:
                raise CurateError(f"{name} must be >= 1")
        if not self.percdamp > 0:
            raise CurateError(f"percdamp {self.percdamp} must be > 0", hint="SparseGPT's default is 0.01")
        if self.sparsegpt_solver not in ("auto", "eager", "graph"):
            raise CurateError(f"sparsegpt_solver '{self.sparsegpt_solver}' is unknown", hint="use auto, eager or graph")
        from prune_backend.registry import METHODS

        if self.method not in METHODS:
            METHODS.get(self.method)  # raises "unknown pruning method ... did you mean"
        self.dsnot_skip = tuple(self.dsnot_skip)

    @property
    def nm(self) -> tuple[int, int] | None:
        return parse_pattern(self.pattern)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["dsnot_skip"] = list(self.dsnot_skip)
        return d
