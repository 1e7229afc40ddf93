"""The scorer registry, and the ``score`` step: any scorer of :data:`SCORERS`, named in a recipe.

    from curate.steps.score import SCORERS, build_scorer
    step = build_scorer("min_k_pp", k=0.5)       # a curate Step of kind "scorer"
    SCORERS.names()                              # every registered scorer

    steps:
      - {type: score, scorer: min_k_pp, k: 0.5}

Keys beyond ``type`` and ``scorer`` are the scorer's parameters; both the name and the
parameters are checked when the recipe loads (did-you-mean on a typo).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, field_validator, model_validator

from curate.errors import CurateError
from curate.registry import Registry
from curate.steps.base import Step, StepSpec

# Scorers (kind "scorer"; the ``score`` step runs one by name): a new scorer is a class in
# :mod:`curate.steps.scorers` (or a plug-in module) plus one line here.
SCORERS = Registry("scorer", entry_point_group="curate.scorers")
SCORERS.register("model_scores", "curate.steps.scorers:ModelScores")
SCORERS.register("perplexity", "curate.steps.scorers:Perplexity")
SCORERS.register("min_k", "curate.steps.scorers:MinK")
SCORERS.register("min_k_pp", "curate.steps.scorers:MinKPlusPlus")
SCORERS.register("entropy", "curate.steps.scorers:Entropy")
SCORERS.register("minhash_jaccard", "curate.steps.scorers:MinHashJaccard")
SCORERS.register("ngram_aggregation", "curate.steps.scorers:NgramAggregation")
SCORERS.register("diversity", "curate.steps.scorers:Diversity")
SCORERS.register("expert_coverage", "curate.steps.expert_coverage:ExpertCoverage")


def build_scorer(name: str, **params: Any):
    """Instantiate the scorer registered as ``name``; unknown parameters fail with a hint."""
    from curate.steps.scorers import check_params

    cls = SCORERS.get(name)
    check_params(cls, params, name)
    return cls(**params)


class ScoreSpec(StepSpec):
    """Attach a score from ``SCORERS`` to every sample."""

    model_config = ConfigDict(extra="allow")  # scorer parameters are checked by the scorer
    type: Literal["score"]
    scorer: str

    @field_validator("scorer")
    @classmethod
    def _known(cls, v: str) -> str:
        return SCORERS.check_name(v)

    @model_validator(mode="after")
    def _params(self):
        from curate.steps.scorers import check_params

        try:
            check_params(SCORERS.get(self.scorer), dict(self.model_extra or {}), self.scorer)
        except CurateError as exc:
            raise ValueError(exc.one_line()) from None
        return self


def scorer_step(spec: ScoreSpec, **_: Any) -> Step:
    """The scorer the block names, with its parameters."""
    return build_scorer(spec.scorer, **(spec.model_extra or {}))
