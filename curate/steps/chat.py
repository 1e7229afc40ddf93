"""Chat-formatted calibration: conversations rendered with the target model's chat template.

    components:
      - source: {type: bundled, name: chat}
        steps:
          - {type: chat}                       # optional: system: "You are ..."

Each document is parsed into turns (:func:`parse_conversation`: a JSON list of
``{role, content}`` such as a ``messages`` field, ``User: ... / Assistant: ...`` lines as in
the bundled ``chat`` source, or bare lines that alternate user / assistant), rendered with
``tokenizer.apply_chat_template`` and tokenized (:func:`render_chat`). Whole conversations, in a
seeded random order, are packed into exactly-L-token samples (the last one of a sample is cut);
every sample starts at the start of a conversation. The ``assistant_mask`` column is 1 on the
tokens of the assistant's turns -- its content and the end-of-turn tokens the template puts after
it, not the ``<|im_start|>assistant`` header, which the template writes as the generation prompt
(the span of TRL's assistant-only loss masks) -- and 0 elsewhere; ``curate prune/validate --mask
assistant`` makes the pruning statistics count only those tokens.

The same rendering serves self-generation through the template (``generate`` with ``chat:
true``, :func:`chat_prompt`) and reasoning-aware calibration (questions of :data:`QUESTIONS`).
"""

from __future__ import annotations

import ast
import json
import random
import re
from collections.abc import Callable
from typing import Any, ClassVar, Literal

from pydantic import Field

from curate.errors import CurateError, SourceError
from curate.records import Sample
from curate.steps.base import Stage, Step, StepSpec

Message = dict[str, str]

_ROLES = {"user": "user", "human": "user", "question": "user", "q": "user", "assistant": "assistant",
          "bot": "assistant", "gpt": "assistant", "ai": "assistant", "answer": "assistant", "a": "assistant",
          "system": "system"}
_LABEL = re.compile(r"^\s*(" + "|".join(sorted(_ROLES, key=len, reverse=True)) + r")\s*:\s?(.*)$", re.I)


# --------------------------------------------------------------------------- pure functions


def _normalize(messages: list[Message]) -> list[Message]:
    """Drop empty turns, merge consecutive turns of one role, drop assistant turns before the
    first user turn; [] when no assistant turn is left."""
    out: list[Message] = []
    for m in messages:
        role, content = m["role"], m["content"].strip()
        if not content:
            continue
        if role == "assistant" and not any(x["role"] == "user" for x in out):
            continue
        if out and out[-1]["role"] == role:
            out[-1] = {"role": role, "content": out[-1]["content"] + "\n" + content}
        else:
            out.append({"role": role, "content": content})
    return out if any(m["role"] == "assistant" for m in out) else []


def _from_json(text: str) -> list[Message] | None:
    s = text.strip()
    if not s or s[0] not in "[{":
        return None
    try:
        data = json.loads(s)
    except ValueError:
        return None
    if isinstance(data, dict):
        data = data.get("messages") or data.get("conversations")
    if not isinstance(data, list) or not all(isinstance(m, dict) for m in data):
        return None
    out = []
    for m in data:
        role = str(m.get("role") or m.get("from") or "").lower()
        content = m.get("content", m.get("value"))
        if role not in _ROLES or not isinstance(content, str):
            return None
        out.append({"role": _ROLES[role], "content": content})
    return out


def parse_conversation(text: str) -> list[Message]:
    """Turns of one document: [{role, content}], roles user/assistant/system; [] if it holds no
    assistant turn. Accepts a JSON list of messages (or ``{"messages": [...]}``; ShareGPT's
    ``from``/``value`` too), ``Role: text`` lines (a line without a label continues the turn
    before it), or else bare non-empty lines that alternate user, assistant, user, ..."""
    msgs = _from_json(text)
    if msgs is None:
        lines = text.splitlines()
        if any(_LABEL.match(ln) for ln in lines):
            msgs = []
            for ln in lines:
                m = _LABEL.match(ln)
                if m:
                    msgs.append({"role": _ROLES[m.group(1).lower()], "content": m.group(2)})
                elif msgs:
                    msgs[-1]["content"] += "\n" + ln
                elif ln.strip():
                    msgs.append({"role": "user", "content": ln})
        else:
            turns = [ln for ln in lines if ln.strip()]
            msgs = [{"role": "user" if i % 2 == 0 else "assistant", "content": t} for i, t in enumerate(turns)]
    return _normalize(msgs)


def check_chat_template(tokenizer: Any) -> None:
    if not getattr(tokenizer, "chat_template", None):
        raise CurateError("the model's tokenizer has no chat template",
                          hint="use an instruct/chat model (the bundled smollm2-135m has one) or drop the chat step")


def _render(tokenizer: Any, messages: list[Message], generation_prompt: bool = False) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)


def render_chat(tokenizer: Any, messages: list[Message]) -> tuple[str, list[int], list[int]]:
    """(rendered text, ids, assistant_mask) of one conversation; mask 1 on the assistant turns.

    The assistant span of turn i is what ``messages[:i+1]`` adds to ``messages[:i]`` rendered with
    the generation prompt; the text is tokenized span by span (the spans start and end at the
    template's special tokens), so the mask is exact for any tokenizer.
    """
    full = _render(tokenizer, messages)
    cuts: list[tuple[int, int]] = []
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        head, upto = _render(tokenizer, messages[:i], True), _render(tokenizer, messages[:i + 1])
        if not (upto.startswith(head) and full.startswith(upto)):
            raise CurateError("the chat template does not render a conversation as a prefix of its continuation",
                              hint="use a model whose template renders turns incrementally")
        cuts.append((len(head), len(upto)))
    ids: list[int] = []
    mask: list[int] = []
    pos = 0
    for a, b in cuts + [(len(full), len(full))]:
        for lo, hi, bit in ((pos, a, 0), (a, b, 1)):
            if hi > lo:
                piece = tokenizer(full[lo:hi], add_special_tokens=False)["input_ids"]
                ids += piece
                mask += [bit] * len(piece)
        pos = b
    return full, ids, mask


def chat_prompt(tokenizer: Any, question: str, system: str | None = None) -> list[int]:
    """Ids of a one-question conversation ending with the generation prompt (the assistant's
    header): what the model answers in ``generate`` with ``chat: true``."""
    msgs = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": question}]
    return tokenizer(_render(tokenizer, msgs, True), add_special_tokens=False)["input_ids"]


# ---- questions of a document (reasoning-aware calibration): (text, rng) -> question or None

_PROBLEM = re.compile(r"^\s*(?:Problem|Question)\s*:\s*(.*?)(?=\n\s*(?:Solution|Answer)\s*:|\Z)", re.S | re.I)


def problem_question(text: str, rng: random.Random) -> str | None:
    """The problem statement of a ``Problem: ... Solution: ... Answer: ...`` document (the
    bundled champ-math), never its solution; a document without the labels is the question."""
    m = _PROBLEM.match(text)
    q = (m.group(1) if m else text).strip()
    return q or None


def function_question(text: str, rng: random.Random, max_doc_chars: int = 1200) -> str | None:
    """A code task from a Python file: one of its documented functions (seeded choice), as its
    signature and docstring without the body."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return None
    funcs = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
             and not n.name.startswith("_") and ast.get_docstring(n)]
    if not funcs:
        return None
    f = funcs[rng.randrange(len(funcs))]
    sig = f"def {f.name}({ast.unparse(f.args)})" + (f" -> {ast.unparse(f.returns)}" if f.returns else "")
    doc = (ast.get_docstring(f) or "")[:max_doc_chars]
    return f'```python\n{sig}:\n    """{doc}"""\n```'


def document_question(text: str, rng: random.Random) -> str | None:
    return text.strip() or None


QUESTIONS: dict[str, Callable[[str, random.Random], str | None]] = {
    "document": document_question, "problem": problem_question, "function": function_question}


# --------------------------------------------------------------------------- the step


class ChatSpec(StepSpec):
    """Render conversations with the target model's chat template into L-token samples with an
    ``assistant_mask`` column."""

    type: Literal["chat"]
    system: str | None = None  # a system turn put first in every conversation that has none
    oversample: float = Field(default=1.0, ge=1.0)
    stage: ClassVar[Stage] = "producer"


class ChatStep(Step):
    kind = "sampler"

    def __init__(self, spec: ChatSpec, target: int, seq_len: int, seed: int, source_name: str, **_):
        super().__init__(name=f"chat:{source_name}")
        self.spec, self.target, self.seq_len, self.seed, self.source_name = spec, target, seq_len, seed, source_name

    @property
    def n_out(self) -> int:
        import math

        return math.ceil(self.target * self.spec.oversample - 1e-9)

    def process(self, samples: list[Sample], ctx: Any) -> list[Sample]:
        tok = ctx.tokenizer
        check_chat_template(tok)
        convs: list[tuple[Sample, list[int], list[int]]] = []
        for doc in samples:
            msgs = parse_conversation(doc.text)
            if not msgs:
                self.stats.drop("no_assistant_turn")
                continue
            if self.spec.system and msgs[0]["role"] != "system":
                msgs = [{"role": "system", "content": self.spec.system}] + msgs
            _, conv_ids, conv_mask = render_chat(tok, msgs)
            convs.append((doc, conv_ids, conv_mask))
        if not convs:
            raise SourceError(f"source '{self.source_name}' has no conversation with an assistant turn",
                              hint="give documents with User:/Assistant: lines or a messages list")
        rng = random.Random(f"{self.seed}:{self.source_name}:chat")
        order: list[int] = []
        passes = 0
        out: list[Sample] = []
        for i in range(self.n_out):
            ids: list[int] = []
            mask: list[int] = []
            used: list[str] = []
            while len(ids) < self.seq_len:
                if not order:  # a new seeded pass over the conversations
                    order = list(range(len(convs)))
                    rng.shuffle(order)
                    passes += 1
                doc, c_ids, c_mask = convs[order.pop()]
                ids += c_ids
                mask += c_mask
                used.append(doc.doc_id)
            ids, mask = ids[:self.seq_len], mask[:self.seq_len]
            out.append(Sample(text=tok.decode(ids, skip_special_tokens=False), source=self.source_name,
                              doc_id=f"{used[0]}+{len(used) - 1}#chat{i}", input_ids=ids, assistant_mask=mask,
                              meta={"conversations": len(used), "assistant_tokens": sum(mask)}))
        self.stats.extra.update({"conversations": len(convs), "passes": passes})
        return out
