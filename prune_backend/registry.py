"""Pruning methods by name, imported only when chosen.

    from prune_backend import METHODS
    METHODS.names()            # ['llmcompressor-sparsegpt', 'llmcompressor-wanda', 'magnitude', 'sparsegpt', 'wanda']
    Wanda = METHODS.get("wanda")

A third-party package adds a method through the entry-point group ``prune_backend.methods``
(``name = "module:Class"``); the class follows :class:`prune_backend.methods.base.PruningMethod`.
"""

from __future__ import annotations

from curate.registry import Registry

METHODS = Registry("pruning method", entry_point_group="prune_backend.methods")
METHODS.register("magnitude", "prune_backend.methods.magnitude:Magnitude")
METHODS.register("wanda", "prune_backend.methods.wanda:Wanda")
METHODS.register("sparsegpt", "prune_backend.methods.sparsegpt:SparseGPT")
METHODS.register("llmcompressor-wanda", "prune_backend.llmcompressor_adapter:LLMCompressorWanda")
METHODS.register("llmcompressor-sparsegpt", "prune_backend.llmcompressor_adapter:LLMCompressorSparseGPT")
