"""Pipeline steps: sources -> samplers/generators -> filters -> scorers -> selectors/mixers -> writer.

    from curate.steps import STEPS
    STEPS.names()                                # every recipe step type

:data:`STEPS` maps each recipe ``type`` to its step class and the spec of its block; the
recipe's union of step blocks is built from it. A new step is one file (a :class:`StepSpec`
subclass with ``type: Literal["<name>"]`` and a :class:`Step` subclass) plus one line here, or an
entry point in the ``curate.steps`` group naming a step class whose ``Spec`` attribute is its spec.
"""

from curate.registry import SpecRegistry
from curate.steps.base import Step, StepSpec, StepStats

STEPS = SpecRegistry("step type", entry_point_group="curate.steps")
STEPS.register("sample", "curate.steps.producers:SampleStep", spec="curate.steps.producers:SampleSpec")
STEPS.register("generate", "curate.steps.producers:GenerateStep", spec="curate.steps.producers:GenerateSpec")
STEPS.register("chat", "curate.steps.chat:ChatStep", spec="curate.steps.chat:ChatSpec")
STEPS.register("length_filter", "curate.steps.filters:LengthFilter", spec="curate.steps.filters:LengthFilterSpec")
STEPS.register("quality_filter", "curate.steps.filters:QualityFilter", spec="curate.steps.filters:QualityFilterSpec")
STEPS.register("perplexity_filter", "curate.steps.filters:PerplexityFilter",
               spec="curate.steps.filters:PerplexityFilterSpec")
STEPS.register("dedup", "curate.steps.filters:DedupFilter", spec="curate.steps.filters:DedupSpec")
STEPS.register("score", "curate.steps.score:scorer_step", spec="curate.steps.score:ScoreSpec")
STEPS.register("select", "curate.steps.select:SelectStep", spec="curate.steps.select:SelectSpec")
STEPS.register("igsp", "curate.steps.igsp:IGSPStep", spec="curate.steps.igsp:IGSPSpec")
STEPS.register("cola", "curate.steps.cola:ColaStep", spec="curate.steps.cola:ColaSpec")
STEPS.register("zipcal", "curate.steps.zipcal:ZipCalStep", spec="curate.steps.zipcal:ZipCalSpec")
STEPS.register("expert_balanced", "curate.steps.expert_balanced:ExpertBalancedStep",
               spec="curate.steps.expert_balanced:ExpertBalancedSpec")
STEPS.register("ebss", "curate.steps.ebss:EBSSStep", spec="curate.steps.ebss:EBSSSpec")

__all__ = ["STEPS", "Step", "StepSpec", "StepStats"]
