"""Base classes of every pipeline step and of its recipe block.

A step is a small object around pure functions: ``run(samples, ctx) -> samples``. It counts
what it kept and dropped and why; the counts go into ``manifest.json`` and the dataset card.
Its recipe block is a :class:`StepSpec` subclass with ``type: Literal["<name>"]``; both are
registered together in :data:`curate.steps.STEPS`, and the build makes the step as
``step_class(spec, target=..., seq_len=..., seed=..., source_name=...)`` (a step takes what it
needs of these keywords and ignores the rest).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from curate.records import Sample
from curate.registry import Spec

Stage = Literal["document", "producer", "sample"]


class StepSpec(Spec):
    """A step's recipe block. Class variables say where the step may stand in a recipe:

    * ``stage``: ``document`` steps see raw documents (before the component's producer),
      the one ``producer`` per component turns documents into L-token samples, ``sample``
      steps come after it, in a component or in the set-level ``steps``;
    * ``selects``: the step can cut a pool down to ``n_samples`` (needed when pool_size > n_samples);
    * ``self_generated``: the samples are the model's own text (labels and the card say so).
    """

    type: str
    stage: ClassVar[Stage] = "sample"
    selects: ClassVar[bool] = False
    self_generated: ClassVar[bool] = False


@dataclass
class StepStats:
    name: str
    kind: str
    seen: int = 0
    kept: int = 0
    dropped: int = 0
    reasons: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def drop(self, reason: str, n: int = 1) -> None:
        """Count ``n`` samples dropped for ``reason``; a zero count records no reason."""
        if n <= 0:
            return
        self.dropped += n
        self.reasons[reason] += n

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "seen": self.seen, "kept": self.kept,
                "dropped": self.dropped, "reasons": dict(sorted(self.reasons.items())),
                "seconds": round(self.seconds, 3), **({"extra": self.extra} if self.extra else {})}


class Step:
    """Subclasses implement :meth:`process`; :meth:`__call__` times and counts it."""

    kind: ClassVar[str] = "step"

    def __init__(self, name: str | None = None):
        self.name = name or type(self).__name__
        self.stats = StepStats(self.name, self.kind)

    def process(self, samples: list[Sample], ctx: Any) -> list[Sample]:  # pragma: no cover
        raise NotImplementedError

    def __call__(self, samples: Iterable[Sample], ctx: Any) -> list[Sample]:
        samples = list(samples)
        t0 = time.perf_counter()
        self.stats.seen += len(samples)
        out = self.process(samples, ctx)
        self.stats.kept += len(out)
        self.stats.seconds += time.perf_counter() - t0
        return out


class Filter(Step):
    """Keeps a sample or drops it with a reason (datatrove's BaseFilter contract)."""

    kind = "filter"

    def keep(self, sample: Sample, ctx: Any) -> bool | str:  # pragma: no cover
        """True to keep; False or a reason string to drop."""
        raise NotImplementedError

    def process(self, samples: list[Sample], ctx: Any) -> list[Sample]:
        out = []
        for s in samples:
            verdict = self.keep(s, ctx)
            if verdict is True:
                out.append(s)
            else:
                self.stats.drop(verdict if isinstance(verdict, str) else self.name)
        return out
