"""Samplers: documents -> N sequences of exactly L tokens, seeded and deterministic.

    from curate.sampling import SAMPLERS, make_tokenize, random_windows
    samples = random_windows(docs, make_tokenize(tokenizer), n=128, seq_len=2048, rng=random.Random(0))
    SAMPLERS.get("packing")().draw(docs, n=8, seq_len=512, rng=rng, tokenizer=tok)  # what a recipe runs

A recipe picks one with ``{type: sample, method: <name>}``; further keys of that block are the
sampler's own parameters, validated by its class (a :class:`Sampler` is the pydantic spec of
those parameters). A new sampler is one file with a ``Sampler`` subclass plus one line here.

* ``random_windows`` — the Wanda/SparseGPT convention (:mod:`curate.sampling.random_windows`).
* ``packing`` — concatenate documents and cut L-token blocks (:mod:`curate.sampling.packing`).
"""

from curate.registry import Registry
from curate.sampling.base import Sampler, Tokenize, make_tokenize, seeded_order
from curate.sampling.packing import packing
from curate.sampling.random_windows import random_windows

SAMPLERS = Registry("sampler", entry_point_group="curate.samplers")
SAMPLERS.register("random_windows", "curate.sampling.random_windows:RandomWindows")
SAMPLERS.register("packing", "curate.sampling.packing:Packing")

__all__ = ["SAMPLERS", "Sampler", "Tokenize", "make_tokenize", "packing", "random_windows", "seeded_order"]
