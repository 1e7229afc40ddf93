import pytest
import torch

from curate.generation import SamplingConfig
from curate.generation.hf_backend import ScheduledTemperature, TransformersBackend
from curate.records import Sample
from curate.steps.producers import draw_prefixes


def test_generation_exact_lengths_and_reproducible(tiny_lm):
    model, tok = tiny_lm
    backend = TransformersBackend(model, tok, batch_size=3)
    prompts = [[70, 71], [72], [73, 74, 75, 76], [70, 71], [77]]
    lens = [10, 11, 8, 10, 11]
    cfg = SamplingConfig()
    a = backend.generate(prompts, lens, cfg, seed=0, progress=False)
    b = backend.generate(prompts, lens, cfg, seed=0, progress=False)
    c = backend.generate(prompts, lens, cfg, seed=1, progress=False)
    assert [len(x) for x in a] == lens
    assert a == b and a != c
    # EOS is suppressed until L tokens are reached
    assert all(tok.eos_token_id not in x for x in a)


def test_repetition_penalty_and_topk_are_applied(tiny_lm):
    model, tok = tiny_lm
    backend = TransformersBackend(model, tok, batch_size=4)
    # top_k=1 is greedy: every seed gives the same continuation
    cfg = SamplingConfig(top_k=1, repetition_penalty=1.0)
    a = backend.generate([[70]] * 2, [12, 12], cfg, seed=0, progress=False)
    b = backend.generate([[70]] * 2, [12, 12], cfg, seed=5, progress=False)
    assert a == b and a[0] == a[1]
    with torch.inference_mode():
        greedy = model.generate(torch.tensor([[70]]), do_sample=False, max_new_tokens=12, min_new_tokens=12,
                                pad_token_id=tok.pad_token_id, repetition_penalty=1.0)[0, 1:].tolist()
    assert a[0] == greedy


def test_scheduled_temperature_is_linear():
    st = ScheduledTemperature(2.0, 0.5, prompt_len=1, max_new_tokens=4)
    assert [round(st.temperature(i), 3) for i in range(4)] == [2.0, 1.5, 1.0, 0.5]
    scores = torch.ones(2, 5)
    ids = torch.zeros(2, 3, dtype=torch.long)  # 2 tokens generated after a 1-token prompt
    assert torch.allclose(st(ids, scores), scores / 1.0)


def test_draw_prefixes_range_and_start_token():
    docs = [Sample(text="abcdefgh", source="s", doc_id=f"d{i}") for i in range(5)]
    import random

    tok = lambda t: [ord(c) for c in t]  # noqa: E731
    pairs = draw_prefixes(docs, tok, 20, (1, 4), random.Random(0), start_id=1)
    assert len(pairs) == 20 and {len(p) for _, p in pairs} <= {1, 2, 3, 4} and len({len(p) for _, p in pairs}) > 1
    assert all(p == tok(d.text)[:len(p)] for d, p in pairs)
    zero = draw_prefixes(docs, tok, 3, (0, 0), random.Random(0), start_id=1)
    assert [p for _, p in zero] == [[1]] * 3


def test_vllm_backend_missing_is_a_clear_error(tiny_lm, monkeypatch):
    import builtins

    from curate.errors import MissingDependencyError
    from curate.generation.vllm_backend import VLLMBackend

    real_import = builtins.__import__

    def fake(name, *a, **k):
        if name == "vllm" or name.startswith("vllm."):
            raise ImportError("no vllm")
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(MissingDependencyError, match=r"pip install 'curate-calib\[vllm\]'"):
        VLLMBackend("some/model", tiny_lm[1])


def test_vllm_backend_maps_parameters(tiny_lm, monkeypatch):
    """The vllm backend passes the paper's sampling parameters and exact lengths to vLLM."""
    import sys
    import types

    calls = {}

    class SP:
        def __init__(self, **kw):
            self.kw = kw

    class Out:
        def __init__(self, ids):
            self.outputs = [types.SimpleNamespace(token_ids=ids)]

    class LLM:
        def generate(self, prompts, params, use_tqdm=True):
            calls["params"] = [p.kw for p in params]
            return [Out(list(range(p.kw["max_tokens"] + 3))) for p in params]

    fake = types.ModuleType("vllm")
    fake.SamplingParams = SP
    inputs = types.ModuleType("vllm.inputs")
    inputs.TokensPrompt = lambda prompt_token_ids: prompt_token_ids
    monkeypatch.setitem(sys.modules, "vllm", fake)
    monkeypatch.setitem(sys.modules, "vllm.inputs", inputs)
    from curate.generation.vllm_backend import VLLMBackend

    b = VLLMBackend("m", tiny_lm[1], llm=LLM())
    out = b.generate([[1, 2], [3]], [5, 6], SamplingConfig(temperature=0.7), seed=0, progress=False)
    assert [len(x) for x in out] == [5, 6]
    p = calls["params"][0]
    assert (p["temperature"], p["top_p"], p["top_k"], p["repetition_penalty"]) == (0.7, 0.95, 50, 1.2)
    assert p["min_tokens"] == p["max_tokens"] == 5
