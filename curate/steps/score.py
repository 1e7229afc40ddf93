"""The ``score`` step: any scorer of :data:`curate.scoring.SCORERS`, named in a recipe.

    steps:
      - {type: score, scorer: min_k_pp, k: 0.5}

Keys beyond ``type`` and ``scorer`` are the scorer's parameters; both the name and the
parameters are checked when the recipe loads (did-you-mean on a typo).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, field_validator, model_validator

from curate.errors import CurateError
from curate.steps.base import Step, StepSpec


class ScoreSpec(StepSpec):
    """Attach a score from ``curate.scoring.SCORERS`` to every sample."""

    model_config = ConfigDict(extra="allow")  # scorer parameters are checked by the scorer
    type: Literal["score"]
    scorer: str

    @field_validator("scorer")
    @classmethod
    def _known(cls, v: str) -> str:
        from curate.scoring import SCORERS

        return SCORERS.check_name(v)

    @model_validator(mode="after")
    def _params(self):
        from curate.scoring import SCORERS
        from curate.steps.scorers import check_params

        try:
            check_params(SCORERS.get(self.scorer), dict(self.model_extra or {}), self.scorer)
        except CurateError as exc:
            raise ValueError(exc.one_line()) from None
        return self


def scorer_step(spec: ScoreSpec, **_: Any) -> Step:
    """The scorer the block names, with its parameters."""
    from curate.scoring import build_scorer

    return build_scorer(spec.scorer, **(spec.model_extra or {}))
