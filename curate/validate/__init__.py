"""Prune with each calibration set over several draws, evaluate, and compare: ``curate validate``.

    curate validate out/default out/wiki-random --method wanda --sparsity 0.5 --seeds 3 --out runs/val

    from curate.validate import ValidateConfig, validate
    table = validate(ValidateConfig(sets=["out/default", "out/wiki-random"], out="runs/val"))

For every set and seed ``k`` (a *draw*): reset the model to its dense weights (from a CPU copy
of the state dict, not from disk), take calibration tokens -- ``resample``: ``N`` rows of the
set drawn with seed ``k`` (:meth:`curate.sets.read.CalibrationSet.draw`, as ``curate prune``
does); ``rebuild``: the set's recipe rebuilt with seed ``k`` -- prune in place with
:func:`prune_backend.prune_model` and the run's :class:`prune_backend.PruneConfig`, and evaluate
(:mod:`curate.evaluate`). Ji et al. 2024 and Williams & Aletras 2024 show that the spread over
such draws is as large as many differences between sets, hence seeds and error bars.

One module per concern: :mod:`~curate.validate.config` (what to run),
:mod:`~curate.validate.draws` (the tokens of a draw), :mod:`~curate.validate.dense` (the cached
dense scores), :mod:`~curate.validate.results` (the table and the sets' extras),
:mod:`~curate.validate.run` (the resumable loop).

Output folder::

    dense.json                      dense scores (also cached under ~/.cache/curate/validate/)
    draws/<set>-<fp8>-n<N>-s<k>-<key>.parquet   one finished draw (written atomically; reused on rerun)
    draws/<...>.json                draw facts: tokens, measured sparsity, seconds
    results.parquet, results.csv    tidy table: set, fingerprint, seed, method, sparsity, pattern,
                                    metric, dimension, value, dense_value, retention
    retention.csv, summary.csv      per-draw and mean +- std retention per dimension (+ Total)
    failures.json                   draws that raised, with the error
    report.md, retention.png, perplexity.png

A set that is a curate version folder also gets ``extras/validation.json`` and a re-rendered
card (its data and manifest are never touched, so its fingerprint does not change).
"""

from __future__ import annotations

from curate.validate.config import ValidateConfig
from curate.validate.dense import dense_cache_path, dense_scores, model_fingerprint
from curate.validate.results import TABLE_COLUMNS, measured_sparsity
from curate.validate.run import validate

__all__ = ["TABLE_COLUMNS", "ValidateConfig", "dense_cache_path", "dense_scores", "measured_sparsity",
           "model_fingerprint", "validate"]
