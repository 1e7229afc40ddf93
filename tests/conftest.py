"""Shared fixtures: a tiny random Llama with a byte tokenizer (fast), the bundled SmolLM2 (slow).

Fixtures that load the real bundled model are session-scoped: the GGUF is converted once into
the curate cache (~30 s on a new machine) and reloaded in ~2 s afterwards.
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def pytest_collection_modifyitems(config, items):
    import torch

    if not torch.cuda.is_available():
        skip = pytest.mark.skip(reason="needs CUDA")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def tiny_lm():
    """(model, tokenizer) — a 2-layer random Llama over a 259-token byte vocabulary."""
    from tiny_models import TINY_VOCAB, tiny_llama, tiny_tokenizer

    return tiny_llama(vocab_size=TINY_VOCAB, hidden=32, layers=2, max_pos=1024), tiny_tokenizer()


@pytest.fixture(scope="session")
def bundled_lm():
    """(model, tokenizer, info) of the bundled SmolLM2-135M-Instruct, fp32 on CPU."""
    from curate.models import load_model

    return load_model("smollm2-135m")


@pytest.fixture(scope="session")
def integrity_base(tmp_path_factory):
    """The workspace of ``integrity_cases``: tiny model, corpus, recipe, two built versions (~6 s),
    with a private curate cache and no Hub token while the session runs."""
    from integrity_cases import make_base

    cache = tmp_path_factory.mktemp("cache")
    old = {k: os.environ.get(k) for k in ("CURATE_CACHE", "HF_TOKEN")}
    os.environ["CURATE_CACHE"] = str(cache)
    os.environ.pop("HF_TOKEN", None)
    try:
        yield make_base(tmp_path_factory.mktemp("base"))
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture
def tiny_ctx(tiny_lm):
    from curate.context import RunContext

    model, tok = tiny_lm
    return RunContext.from_objects(model, tok, None, seed=0, batch_size=4, progress=False)
