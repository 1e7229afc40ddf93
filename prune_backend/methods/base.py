"""The interface every pruning method implements, and the input statistics it consumes.

    from prune_backend.methods.base import LinearStats
    import torch
    x = torch.randn(64, 16)                      # (tokens, in) inputs of one linear
    st = LinearStats.from_inputs(x, hessian=True)
    st.sq_norm.shape, st.hessian.shape           # (16,), (16, 16)

A method is a small class around pure tensor functions (the functions are what the tests pin):
it says which statistics of a linear's input it needs (``needs``), and ``prune`` turns a weight
(out, in) plus those statistics into a new weight and a bool mask (True = pruned). The
sequential driver (:mod:`prune_backend.sequential`) gathers the statistics with hooks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import torch

if TYPE_CHECKING:
    from prune_backend.config import PruneConfig


@dataclass
class LinearStats:
    """Sums over every calibration token t of a linear's input x_t (in,), all fp32.

    ``sum`` = sum_t x_t, ``sumsq`` = sum_t x_t**2 (so ||X_j||_2 = sqrt(sumsq_j)), ``hessian`` =
    sum_t x_t x_t^T (X^T X, (in, in)); ``nseq`` counts sequences (DSnoT's reference scales its
    mean per sequence, which fixes the unit of its update threshold).
    """

    ntokens: int = 0
    nseq: int = 0
    sum: torch.Tensor | None = None
    sumsq: torch.Tensor | None = None
    hessian: torch.Tensor | None = None

    @classmethod
    def from_inputs(cls, x: torch.Tensor, *, hessian: bool = False, nseq: int = 1) -> LinearStats:
        st = cls()
        st.add(x, hessian=hessian, nseq=nseq)
        return st

    def add(self, x: torch.Tensor, *, hessian: bool = False, nseq: int = 1, hessian_fp32: bool = True) -> None:
        """Accumulate a batch of inputs ``x`` (..., in).

        ``hessian_fp32=False`` lets fp16/bf16 CUDA inputs form X^T X on tensor cores with fp32
        accumulation (each product of two 16-bit numbers is exact in fp32; only the order of
        the fp32 sums differs) instead of converting X to fp32 first.
        """
        x = x.reshape(-1, x.shape[-1])  # (T, in)
        low = not hessian_fp32 and x.is_cuda and x.dtype in (torch.float16, torch.bfloat16)
        if not low:
            x = x.float()
        if self.sum is None:
            cols = x.shape[1]
            self.sum = torch.zeros(cols, device=x.device)
            self.sumsq = torch.zeros(cols, device=x.device)
            if hessian:
                self.hessian = torch.zeros(cols, cols, device=x.device)
        self.sum += x.sum(0, dtype=torch.float32)
        self.sumsq += torch.linalg.vector_norm(x, dim=0, dtype=torch.float32).square_()
        if self.hessian is not None:
            # X^T X as one GEMM over all tokens of the batch: (in, T) @ (T, in).
            if low:
                self.hessian += torch.mm(x.t(), x, out_dtype=torch.float32)
            else:
                self.hessian.addmm_(x.t(), x)
        self.ntokens += x.shape[0]
        self.nseq += nseq

    @property
    def sq_norm(self) -> torch.Tensor:
        """||X_j||_2^2 per input column j, (in,)."""
        assert self.sumsq is not None
        return self.sumsq

    @property
    def mean(self) -> torch.Tensor:
        assert self.sum is not None
        return self.sum / max(self.ntokens, 1)

    @property
    def var(self) -> torch.Tensor:
        """Population variance of each input column over tokens (E[x^2] - E[x]^2, clamped >= 0)."""
        assert self.sumsq is not None
        return (self.sumsq / max(self.ntokens, 1) - self.mean.square()).clamp_min(0)

    def to(self, device: torch.device | str) -> LinearStats:
        mv = lambda t: None if t is None else t.to(device)  # noqa: E731
        return LinearStats(self.ntokens, self.nseq, mv(self.sum), mv(self.sumsq), mv(self.hessian))


class PruningMethod:
    """Base class of a layer-wise pruning method (see the module docstring)."""

    name: ClassVar[str] = "base"
    #: which statistics ``prune`` reads: "sumsq" (column norms) and/or "hessian" (X^T X)
    needs: ClassVar[frozenset[str]] = frozenset()
    #: True for adapters that prune the whole model themselves (llm-compressor)
    whole_model: ClassVar[bool] = False

    def __init__(self, cfg: PruneConfig):
        self.cfg = cfg

    def prune(self, weight: torch.Tensor, stats: LinearStats, sparsity: float,
              nm: tuple[int, int] | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (new weight fp32 (out, in), mask bool (out, in), True = pruned).

        ``sparsity`` is this layer's fraction of zeros (OWL makes it per layer); ``nm`` is
        (N, M) for an N:M pattern -- keep N of every M consecutive inputs of a row -- else None.
        """
        raise NotImplementedError
