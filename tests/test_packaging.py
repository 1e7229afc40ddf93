"""The sdist and the wheel: what a user installs holds everything curate reads at run time.

Builds both once (``python -m build --no-isolation``: the sdist, then the wheel *from the
unpacked sdist*, as a user's pip does), then checks the wheel's files against the checkout,
the sdist against the wheel, and runs the unpacked wheel from another folder.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest

from curate import DISTRIBUTION
from curate.resources import CARD_TEMPLATE, PACKAGE_DATA_DIRS

ROOT = Path(__file__).resolve().parents[1]
CODE_SUFFIXES = {".py"}
TASK_SUFFIXES = {".yaml", ".jsonl", ".json"}  # pyproject: package-data of curate.tasks


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts]


def expected_wheel_files() -> dict[str, str]:
    """Wheel member -> the checkout file it is built from."""
    out: dict[str, str] = {}
    for pkg in ("curate", "prune_backend"):
        for p in _files(ROOT / pkg):
            rel = p.relative_to(ROOT).as_posix()
            in_tasks = rel.startswith("curate/tasks/")
            if p.suffix in CODE_SUFFIXES or p.name == "py.typed" or (in_tasks and p.suffix in TASK_SUFFIXES):
                out[rel] = rel
    for inside, top in PACKAGE_DATA_DIRS.items():
        for p in _files(ROOT / top):
            if p.suffix in {".yaml", ".j2"} or p.name == "README.md":
                out[f"curate/{inside}/{p.relative_to(ROOT / top).as_posix()}"] = p.relative_to(ROOT).as_posix()
    return out


@pytest.fixture(scope="module")
def dists(tmp_path_factory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("dist")
    r = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "-o", str(out), str(ROOT)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    (sdist,), (wheel,) = sorted(out.glob("*.tar.gz")), sorted(out.glob("*.whl"))
    return sdist, wheel


def test_setup_maps_the_folders_resources_reads():
    tree = ast.parse((ROOT / "setup.py").read_text())
    (mapping,) = [ast.literal_eval(n.value) for n in ast.walk(tree) if isinstance(n, ast.Assign)
                  and any(isinstance(t, ast.Name) and t.id == "DATA_PACKAGES" for t in n.targets)]
    assert mapping == {f"curate.{k}": v for k, v in PACKAGE_DATA_DIRS.items()}


def test_distribution_name_is_pyprojects():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert meta["name"] == DISTRIBUTION != "curate"  # `curate` on the index is another project
    assert meta["scripts"]["curate"] == "curate.cli:main"


def test_wheel_holds_exactly_the_checkout_files(dists):
    _, wheel = dists
    with zipfile.ZipFile(wheel) as z:
        members = {n for n in z.namelist() if ".dist-info/" not in n}
        meta = z.read(next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))).decode()
    expected = expected_wheel_files()
    assert members == set(expected), (sorted(set(expected) - members)[:10], sorted(members - set(expected))[:10])
    assert f"Name: {DISTRIBUTION}\n" in meta
    for name in ("curate/recipes/default.yaml", "curate/recipes/wiki-windows.yaml",
                 f"curate/card_templates/{CARD_TEMPLATE}", "curate/tasks/lastword_wikipedia.yaml",
                 "curate/tasks/data/lastword_wikipedia.jsonl"):
        assert name in members


def test_sdist_contains_every_file_the_wheel_is_built_from(dists):
    sdist, wheel = dists
    with tarfile.open(sdist) as t:
        top = t.getnames()[0].split("/")[0]
        in_sdist = {n.removeprefix(top + "/") for n in t.getnames()}
    with zipfile.ZipFile(wheel) as z:
        members = [n for n in z.namelist() if ".dist-info/" not in n]
    sources = expected_wheel_files()
    missing = [sources.get(m, m) for m in members if sources.get(m, m) not in in_sdist]
    assert not missing
    assert {"pyproject.toml", "setup.py", "README.md"} <= in_sdist


def test_unpacked_wheel_runs_outside_the_checkout(dists, tmp_path):
    """The wheel's own files, not the checkout's: recipes, card template and tasks resolve
    inside it, and ``curate recipes`` lists what the checkout lists."""
    _, wheel = dists
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as z:
        z.extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    probe = ("import curate, curate.resources as r; "
             "print(curate.__file__); print(r.checkout_root()); print(r.recipes_dir()); print(r.tasks_dir()); "
             "print(len(r.card_template_text()) > 0); print(r.bundled_recipe('recipes/wiki-windows.yaml'))")
    r = subprocess.run([sys.executable, "-c", probe], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    file, root, recipes, tasks, card_ok, wiki = r.stdout.splitlines()
    assert file.startswith(str(site)) and root == "None" and card_ok == "True"
    assert wiki == str(site / "curate" / "recipes" / "wiki-windows.yaml")  # the card's path, from any folder
    assert recipes == str(site / "curate" / "recipes") and tasks == str(site / "curate" / "tasks")
    listed = subprocess.run([sys.executable, "-m", "curate", "recipes"], cwd=elsewhere, env=env,
                            capture_output=True, text=True, timeout=120)
    here = subprocess.run([sys.executable, "-m", "curate", "recipes"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert listed.returncode == 0 and here.returncode == 0, listed.stderr + here.stderr
    assert listed.stdout == here.stdout and len(listed.stdout.splitlines()) == len(list((ROOT / "recipes").glob("*.yaml")))
