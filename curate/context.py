"""Shared run context handed to every step: model (loaded lazily), tokenizer, seed, device.

Steps never load models themselves; they ask ``ctx.model`` so that a recipe with no
model-based step never pays for loading one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@dataclass
class RunContext:
    model_name: str = "smollm2-135m"
    revision: str | None = None
    dtype: str = "float32"
    device: str | None = None  # None -> cuda if available else cpu
    trust_remote_code: bool = False
    allow_pickle: bool = False
    seed: int = 0
    batch_size: int = 8
    progress: bool = True
    _model: Any = field(default=None, repr=False)
    _tokenizer: Any = field(default=None, repr=False)
    _info: Any = field(default=None, repr=False)

    @classmethod
    def from_objects(cls, model, tokenizer, info=None, **kw) -> RunContext:
        """Wrap an already-loaded model (tests, notebooks)."""
        ctx = cls(**kw)
        ctx._model, ctx._tokenizer, ctx._info = model, tokenizer, info
        return ctx

    def _load(self) -> None:
        from curate.models import load_model

        self._model, self._tokenizer, self._info = load_model(
            self.model_name, revision=self.revision, dtype=self.dtype, device=self.resolved_device,
            trust_remote_code=self.trust_remote_code, allow_pickle=self.allow_pickle)

    @property
    def resolved_device(self) -> str:
        return self.device or default_device()

    @property
    def model(self):
        if self._model is None:
            self._load()
        return self._model

    @property
    def tokenizer(self):
        if self._tokenizer is None:
            if self._model is not None:
                raise RuntimeError("context has a model but no tokenizer")
            from curate.models import load_tokenizer

            self._tokenizer = load_tokenizer(self.model_name, self.revision, self.trust_remote_code)
        return self._tokenizer

    @property
    def model_info(self):
        if self._info is None and self._model is None:
            self._load()
        return self._info

    @property
    def model_loaded(self) -> bool:
        return self._model is not None
