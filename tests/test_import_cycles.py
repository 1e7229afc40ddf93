"""No import cycle in curate/, prune_backend/ or benchmarks/, module-level and function-level alike.

    PYTHONPATH=$PWD python -m pytest tests/test_import_cycles.py -q

The graph is built from the source with ``ast`` (nothing is imported): an edge a -> b for every
``import b`` / ``from b import x`` anywhere in a, inside functions too, because a function-level
import only hides a cycle until the function runs. ``from pkg import name`` points at the
submodule ``pkg.name`` where one exists, else at ``pkg`` itself. Imports under
``if TYPE_CHECKING:`` do not run and are left out. Scripts in benchmarks/ import each other by
their bare name (``import study_report``); those are resolved inside benchmarks/ too.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("curate", "prune_backend")
SCRIPTS = "benchmarks"


def module_files(root: Path = ROOT) -> dict[str, Path]:
    """Dotted module name -> file, for the two packages and the benchmark scripts."""
    mods: dict[str, Path] = {}
    for pkg in PACKAGES:
        for path in sorted((root / pkg).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            mods[".".join(parts)] = path
    for path in sorted((root / SCRIPTS).glob("*.py")):
        mods[f"{SCRIPTS}.{path.stem}"] = path
    return mods


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of import nodes that sit under ``if TYPE_CHECKING:`` (never executed)."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for sub in node.body:
                skip.update(id(n) for n in ast.walk(sub))
    return skip


def _resolve(name: str, mods: dict[str, Path]) -> str | None:
    """The longest known module that ``name`` is or lies in (``curate.x.y`` -> ``curate.x``)."""
    parts = name.split(".")
    while parts:
        cand = ".".join(parts)
        if cand in mods:
            return cand
        parts.pop()
    return None


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the modules it imports (known ones only), from every import statement in it."""
    mods = module_files(root)
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        skip = _type_checking_nodes(tree)
        is_pkg = path.name == "__init__.py"
        here = mod if is_pkg else mod.rpartition(".")[0]
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: climb from this module's package
                    up = here.split(".")[: len(here.split(".")) - (node.level - 1)]
                    base = ".".join([*up, base] if base else up)
                targets = [f"{base}.{a.name}" for a in node.names]
            for target in targets:
                if mod.startswith(f"{SCRIPTS}.") and target.split(".")[0] not in PACKAGES:
                    target = f"{SCRIPTS}.{target}"  # a benchmark script imports a sibling by name
                hit = _resolve(target, mods)
                if hit and hit != mod:
                    graph[mod].add(hit)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One shortest cycle per edge that closes one, deduplicated (each as a rotated node list)."""
    found: set[tuple[str, ...]] = set()
    for start in sorted(graph):
        for nxt in sorted(graph[start]):
            # breadth-first from nxt back to start: the shortest cycle through start -> nxt
            prev: dict[str, str | None] = {nxt: None}
            frontier = [nxt]
            while frontier and start not in prev:
                new: list[str] = []
                for node in frontier:
                    for succ in sorted(graph[node]):
                        if succ not in prev:
                            prev[succ] = node
                            new.append(succ)
                frontier = new
            if start not in prev:
                continue
            path, node = [], start
            while node is not None:
                path.append(node)
                node = prev[node]
            cyc = [start, *reversed(path[1:])]  # start -> nxt -> ... -> (back to start)
            low = cyc.index(min(cyc))
            found.add(tuple(cyc[low:] + cyc[:low]))
    return [list(c) for c in sorted(found)]


def test_import_graph_sees_function_level_imports():
    graph = import_graph()
    assert "curate.recipe" in graph and "prune_backend" in graph
    assert graph["curate.cli"], "the CLI imports its commands inside functions"


def test_no_import_cycles():
    found = cycles(import_graph())
    lines = [" -> ".join([*c, c[0]]) for c in found]
    assert not found, f"{len(found)} import cycles:\n" + "\n".join(lines)


def test_tests_and_benchmarks_keep_out_of_each_others_path():
    """tests must not put benchmarks/ on sys.path, nor benchmarks put tests/ on it."""
    for folder, other in (("tests", "benchmarks"), ("benchmarks", "tests")):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for line in path.read_text().splitlines():
                if "sys.path" in line and f'"{other}"' in line:
                    raise AssertionError(f"{path.relative_to(ROOT)} puts {other}/ on sys.path: {line.strip()}")
