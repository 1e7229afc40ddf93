"""One evaluation pass of a model: held-out perplexity per text + lm-eval tasks.

    from curate.evaluate import EvalConfig, Evaluator
    ev = Evaluator(EvalConfig(), tokenizer)        # tokenizes the held-out windows once
    rows = ev.evaluate(model)                       # list[MetricRow], dense or pruned alike

The config's :meth:`EvalConfig.key` names everything that changes the numbers (texts, window
length and count, tasks, limit, shots), so a dense result cached under it is reused safely.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator
from tqdm.auto import tqdm

from curate.evaluate.texts import DEFAULT_TEXTS, EvalWindows, build_all_windows, resolve_text
from curate.tasks import default_limit, default_tasks

# Bump when a change in this package changes evaluation numbers (invalidates dense caches).
# 2: standard tasks through CurateLM, per-task item counts; 3: decontamination 13-grams over
# scoring.functional.words (held-out pydoc-topics drops one more document, benchmarks/NOTES.md).
EVAL_VERSION = 3


class EvalConfig(BaseModel):
    """What to evaluate. Defaults are sized for 2 CPU cores and the bundled 135M model:
    8 texts x 2 windows x 512 tokens (~16 s) + the default tasks (:func:`curate.tasks.default_tasks`:
    metadata ``default: true``), standard tasks of all four dimensions on which the bundled model
    is above chance or gold bits per byte, each on its metadata ``items`` (docs/tasks.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    texts: tuple[str, ...] = Field(default=DEFAULT_TEXTS, description="held-out texts: built-in names or path[=domain]")
    ppl_seq_len: int = Field(512, ge=2, description="tokens per perplexity window (L)")
    ppl_windows: int | None = Field(2, ge=1, description="windows per text; None = every full window")
    tasks: tuple[str, ...] = Field(default_factory=default_tasks, description="lm-eval task names")
    limit: int | dict[str, int] | None = Field(
        default_factory=default_limit,
        description="items per lm-eval task: N for all, {task: N, '*': N} per task (default: each task's "
                    "metadata 'items', 40 for the others); None = all")
    num_fewshot: int | None = Field(None, ge=0, description="None = each task's convention")
    decontaminate: bool = Field(True, description="drop held-out docs sharing a 13-gram with a calibration split")
    batch_size: int = Field(8, ge=1)

    @field_validator("texts", "tasks", mode="before")
    @classmethod
    def _tuple(cls, v):
        return tuple(v) if isinstance(v, list | tuple) else v

    def key(self) -> str:
        """16-hex hash of every field that changes the numbers."""
        payload = self.model_dump(exclude={"batch_size"}) | {"eval_version": EVAL_VERSION}
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=list).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class MetricRow:
    metric: str  # "ppl:<text>" or "<task>:<metric>"
    dimension: str  # General, Commonsense, Math, Code
    value: float
    higher_is_better: bool

    def to_dict(self) -> dict:
        return asdict(self)


class Evaluator:
    """Holds the tokenized windows so that every draw is scored on identical tokens."""

    def __init__(self, config: EvalConfig, tokenizer, *, progress: bool = False):
        self.config = config
        self.tokenizer = tokenizer
        self.progress = progress
        self._windows: list[EvalWindows] | None = None

    @property
    def windows(self) -> list[EvalWindows]:
        """Token windows of every text; cached on disk per (tokenizer, texts, L, N), since
        decontamination scans every calibration corpus (~20 s on 2 cores)."""
        if self._windows is None:
            import torch

            from curate.files import atomic_bytes, cache_dir
            from curate.models import tokenizer_fingerprint

            c = self.config
            texts = [resolve_text(t) for t in c.texts]
            user_files = [t.name for t in texts if t.origin == "user"]
            stamp = [tokenizer_fingerprint(self.tokenizer), c.texts, c.ppl_seq_len, c.ppl_windows, c.decontaminate,
                     EVAL_VERSION, [(f, Path(f).stat().st_mtime_ns, Path(f).stat().st_size) for f in user_files]]
            path = cache_dir() / "validate" / f"windows-{hashlib.sha256(json.dumps(stamp).encode()).hexdigest()[:16]}.pt"
            if path.exists():
                saved = torch.load(path, weights_only=True)
                self._windows = [EvalWindows(t, saved["ids"][t.name], saved["docs"][t.name]) for t in texts]
            else:
                self._windows = build_all_windows(texts, self.tokenizer, c.ppl_seq_len, c.ppl_windows,
                                                  decontaminate=c.decontaminate, progress=self.progress)
                saved = {"ids": {w.name: w.input_ids for w in self._windows},
                         "docs": {w.name: w.doc_ids for w in self._windows}}
                atomic_bytes(path, lambda tmp: torch.save(saved, tmp))
        return self._windows

    def evaluate(self, model) -> list[MetricRow]:
        from curate.evaluate.harness import run_tasks
        from curate.evaluate.perplexity import perplexity
        from curate.models import bos_prefix

        c = self.config
        rows: list[MetricRow] = []
        t0 = time.perf_counter()
        bos = bos_prefix(self.tokenizer)  # each window follows the model's <bos>, where it has one
        for w in tqdm(self.windows, desc="perplexity", disable=not self.progress, leave=False):
            ppl = perplexity(model, w.input_ids, batch_size=c.batch_size, prefix=bos)
            rows.append(MetricRow(f"ppl:{w.name}", w.text.dimension, ppl, False))
        self.last_ppl_seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        for s in run_tasks(model, self.tokenizer, list(c.tasks), limit=c.limit,
                           num_fewshot=c.num_fewshot, batch_size=c.batch_size):
            rows.append(MetricRow(f"{s.task}:{s.metric}", s.dimension, s.value, s.higher_is_better))
        self.last_task_seconds = time.perf_counter() - t0
        return rows
