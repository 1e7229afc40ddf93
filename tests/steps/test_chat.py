"""Chat-formatted calibration: parsing turns, rendering with the template, the assistant_mask
column through build, fingerprint and draw, and ``generate`` with ``chat: true`` (tiny model)."""

from __future__ import annotations

import hashlib
import json
import random

import pytest
import torch

from curate.build import build_recipe
from curate.context import RunContext
from curate.errors import CurateError
from curate.recipe import parse_recipe
from curate.sets.fingerprint import FINGERPRINT_COLUMNS, fingerprint_rows
from curate.sets.read import load_set
from curate.steps.chat import (
    chat_prompt,
    function_question,
    parse_conversation,
    problem_question,
    render_chat,
)

# ChatML-like, with the byte tokenizer's own specials as turn markers
TEMPLATE = ("{% for m in messages %}<s>{{ m['role'] }}\n{{ m['content'] }}</s>\n{% endfor %}"
            "{% if add_generation_prompt %}<s>assistant\n{% endif %}")


@pytest.fixture(scope="module")
def chat_lm():
    from tiny_models import TINY_VOCAB, tiny_llama, tiny_tokenizer

    tok = tiny_tokenizer()
    tok.chat_template = TEMPLATE
    return tiny_llama(vocab_size=TINY_VOCAB, hidden=32, layers=2, max_pos=1024), tok


def _ctx(lm, seed=0):
    from curate.models import ModelInfo, tokenizer_fingerprint

    m, t = lm
    info = ModelInfo("tiny", "local", "/tiny", None, "0" * 64, tokenizer_fingerprint(t))
    return RunContext.from_objects(m, t, info, seed=seed, batch_size=4, progress=False)


def test_parse_conversation_formats():
    labelled = parse_conversation("User: Hi\nAssistant: Hello\nthere\nUser: Bye\nAssistant: Bye!")
    assert labelled == [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello\nthere"},
                        {"role": "user", "content": "Bye"}, {"role": "assistant", "content": "Bye!"}]
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"},
            {"role": "assistant", "content": "4"}]
    assert parse_conversation(json.dumps(msgs)) == msgs
    assert parse_conversation(json.dumps({"messages": msgs})) == msgs
    assert parse_conversation("How are you?\nFine.") == [{"role": "user", "content": "How are you?"},
                                                        {"role": "assistant", "content": "Fine."}]
    assert parse_conversation("User: only a question") == []
    # an assistant turn before any user turn is dropped; same-role turns merge
    assert parse_conversation("Assistant: x\nUser: a\nUser: b\nAssistant: c") == [
        {"role": "user", "content": "a\nb"}, {"role": "assistant", "content": "c"}]


def test_render_marks_exactly_the_assistant_turns(chat_lm):
    _, tok = chat_lm
    msgs = parse_conversation("User: Hi\nAssistant: Hello\nUser: Bye\nAssistant: See you")
    full, ids, mask = render_chat(tok, msgs)
    assert full == tok.apply_chat_template(msgs, tokenize=False)
    assert ids == tok(full, add_special_tokens=False)["input_ids"] and len(mask) == len(ids)
    marked = tok.decode([i for i, b in zip(ids, mask, strict=True) if b], skip_special_tokens=False)
    assert marked == "Hello</s>\nSee you</s>\n"  # content + end of turn, no header, no user text
    unmarked = tok.decode([i for i, b in zip(ids, mask, strict=True) if not b], skip_special_tokens=False)
    assert unmarked == "<s>user\nHi</s>\n<s>assistant\n<s>user\nBye</s>\n<s>assistant\n"


def test_questions():
    rng = random.Random(0)
    doc = "Problem: What is 1+1?\nSolution: It is 2.\nAnswer: 2"
    assert problem_question(doc, rng) == "What is 1+1?"
    code = 'def add(a, b=1) -> int:\n    """Add two numbers."""\n    return a + b\n\ndef _hidden():\n    """x"""\n'
    q = function_question(code, rng)
    assert "def add(a, b=1) -> int:" in q and "Add two numbers." in q and "return" not in q
    assert function_question("x = (", rng) is None


@pytest.fixture
def conversations(tmp_path):
    f = tmp_path / "chats.jsonl"
    with f.open("w") as fh:
        for i in range(12):
            msgs = [{"role": "user", "content": f"question {i}: " + "why " * (i % 4)},
                    {"role": "assistant", "content": f"answer {i} " + "because " * (i % 5 + 1)}]
            fh.write(json.dumps({"id": f"c{i}", "messages": msgs}) + "\n")
    return f


def _recipe(conversations, steps, n=6, seq_len=96):
    return parse_recipe({"name": "chat", "seed": 0, "seq_len": seq_len, "n_samples": n, "components": [
        {"source": {"type": "files", "paths": [str(conversations)], "text_field": "messages", "id_field": "id"},
         "steps": steps}]})


def test_chat_step_builds_rendered_rows_with_the_mask(tmp_path, conversations, chat_lm):
    _, tok = chat_lm
    res = build_recipe(_recipe(conversations, [{"type": "chat"}]), tmp_path / "out", ctx=_ctx(chat_lm),
                       progress=False)
    cs = load_set(res.path)
    rows = cs.dataset
    assert "assistant_mask" in rows.column_names and len(rows) == 6
    first = rows[0]
    assert first["text"].startswith("<s>user\nquestion ") and len(first["input_ids"]) == 96
    assert len(first["assistant_mask"]) == 96
    # each row: the mask is 1 exactly on the tokens of the assistant turns it holds
    for r in rows:
        text = tok.decode([i for i, b in zip(r["input_ids"], r["assistant_mask"], strict=True) if b],
                          skip_special_tokens=False)
        assert text.startswith("answer ") and "question" not in text and "<s>" not in text
    ids, mask = cs.draw(4, seed=1, with_mask=True)
    assert ids.shape == mask.shape == (4, 96) and torch.equal(cs.draw(4, seed=1), ids)
    assert 0 < int(mask.sum()) < mask.numel()
    # the mask is content: part of the fingerprint
    plain = [{c: r[c] for c in FINGERPRINT_COLUMNS} for r in rows]
    assert cs.fingerprint == fingerprint_rows([dict(p, assistant_mask=r["assistant_mask"])
                                               for p, r in zip(plain, rows, strict=True)])
    assert cs.fingerprint != fingerprint_rows(plain)


def test_sets_without_mask_keep_their_fingerprint():
    rows = [{"text": "a", "input_ids": [1, 2], "source": "s", "doc_id": "d"},
            {"text": "b", "input_ids": [3, 4], "source": "s", "doc_id": "e", "assistant_mask": None}]
    h = hashlib.sha256()
    for r in rows:  # the fingerprint as it was before assistant_mask existed
        h.update(json.dumps([r[c] for c in FINGERPRINT_COLUMNS], ensure_ascii=False, separators=(",", ":")).encode())
        h.update(b"\n")
    assert fingerprint_rows(rows) == h.hexdigest()


def test_draw_with_mask_refuses_a_set_without_the_column(tmp_path, conversations, chat_lm):
    res = build_recipe(_recipe(conversations, [{"type": "sample"}], seq_len=32), tmp_path / "out",
                       ctx=_ctx(chat_lm), progress=False)
    with pytest.raises(CurateError, match="assistant_mask"):
        load_set(res.path).draw(2, with_mask=True)


def test_chat_step_needs_a_template(tmp_path, conversations, tiny_lm):
    with pytest.raises(CurateError, match="chat template"):
        build_recipe(_recipe(conversations, [{"type": "chat"}]), tmp_path / "out", ctx=_ctx(tiny_lm),
                     progress=False)


def test_generate_chat_prompts_through_the_template(tmp_path, conversations, chat_lm):
    _, tok = chat_lm
    steps = [{"type": "generate", "chat": True, "question": "document", "template": "Q: {question}",
              "max_question_tokens": 20}]
    res = build_recipe(_recipe(conversations, steps, n=3, seq_len=64), tmp_path / "out", ctx=_ctx(chat_lm),
                       progress=False)
    rows = load_set(res.path).dataset
    for r in rows:
        n_prompt = r["meta_prompt_len"]
        prompt = tok.decode(r["input_ids"][:n_prompt], skip_special_tokens=False)
        assert prompt.startswith("<s>user\nQ: ") and prompt.endswith("</s>\n<s>assistant\n")
        assert r["input_ids"][:n_prompt] == chat_prompt(tok, prompt[len("<s>user\n"):-len("</s>\n<s>assistant\n")])
        assert r["assistant_mask"] == [0] * n_prompt + [1] * (64 - n_prompt)


def test_generate_chat_options_need_chat():
    with pytest.raises(Exception, match="chat: true"):
        parse_recipe({"name": "x", "seq_len": 32, "n_samples": 2, "components": [
            {"source": {"type": "bundled", "name": "chat"}, "steps": [{"type": "generate", "question": "problem"}]}]})


def test_generate_batch_size_auto(tmp_path, conversations, tiny_lm):
    """``batch_size: auto`` (free CUDA memory; 8 on CPU) generates the rows an explicit batch size does."""
    steps = [{"type": "generate", "prefix_tokens": 2, "batch_size": "auto"}]
    a = build_recipe(_recipe(conversations, steps, n=3, seq_len=24), tmp_path / "a", ctx=_ctx(tiny_lm), progress=False)
    steps[0]["batch_size"] = 2
    b = build_recipe(_recipe(conversations, steps, n=3, seq_len=24), tmp_path / "b", ctx=_ctx(tiny_lm), progress=False)
    assert load_set(a.path).input_ids().tolist() == load_set(b.path).input_ids().tolist()
    with pytest.raises(Exception, match="batch_size"):
        parse_recipe({"name": "x", "seq_len": 32, "n_samples": 2, "components": [
            {"source": {"type": "bundled", "name": "chat"}, "steps": [{"type": "generate", "batch_size": "big"}]}]})
