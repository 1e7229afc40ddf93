"""Maps the repository's top-level data folders into the wheel (everything else is in pyproject.toml).

The repository keeps ``recipes/`` and ``datasets_cards/`` at its top level; installed, they are
``curate/recipes/`` and ``curate/card_templates/``, read through :mod:`curate.resources`.
setuptools maps folders per package, and ``[tool.setuptools.packages.find]`` cannot add mapped
ones, so the package list is made here: every package found under curate/ and prune_backend/
(a new subpackage needs no edit; folders without __init__.py, such as prune_backend/methods, are
namespace packages and count too) plus the two mapped data folders.
"""

from setuptools import find_namespace_packages, setup

DATA_PACKAGES = {"curate.recipes": "recipes", "curate.card_templates": "datasets_cards"}

setup(
    packages=find_namespace_packages(include=["curate", "curate.*", "prune_backend", "prune_backend.*"]) + list(DATA_PACKAGES),
    package_dir=DATA_PACKAGES,
)
