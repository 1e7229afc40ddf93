"""Pipeline steps: sources -> samplers/generators -> filters -> scorers -> selectors/mixers -> writer."""

from curate.steps.base import Step, StepStats

__all__ = ["Step", "StepStats"]
