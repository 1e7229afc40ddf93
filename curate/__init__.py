"""curate: calibration data for post-training pruning of LLMs.

    curate build                       # the embedded default: self-generated set from SmolLM2-135M
    curate validate out/default/v1.0.0 out/wiki-windows/v1.0.0 --method wanda --sparsity 0.5

Library use mirrors the CLI: :func:`curate.build.build_recipe`, :func:`curate.sets.read.load_set`,
``curate.validate.validate``, ``prune_backend.prune_model``.
"""

__version__ = "0.1.0"
