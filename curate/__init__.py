"""curate: calibration data for post-training pruning of LLMs.

    curate build                       # the embedded default: self-generated set from SmolLM2-135M
    curate validate out/default/v1.0.0 out/wiki-windows/v1.0.0 --method wanda --sparsity 0.5

Library use mirrors the CLI: :func:`curate.build.build_recipe`, :func:`curate.sets.read.load_set`,
``curate.validate.validate``, ``prune_backend.prune_model``.
"""

__version__ = "0.1.0"
# The name on the package index (`pip install curate-calib`); the import package and the command
# stay `curate` (the index's `curate` is another project). pyproject.toml's [project] name.
DISTRIBUTION = "curate-calib"
