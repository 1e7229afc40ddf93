"""Reading calibration sets: versioned curate sets, or any HF dataset with ``input_ids``/``text``.

A curate set version's folder layout is :mod:`curate.sets.layout`.

    from curate.sets.read import load_set
    cs = load_set("out/default/v1")
    x = cs.input_ids()                  # LongTensor (N, L): every row
    x = cs.draw(n=32, seed=1, tokenizer=tok, retokenize=True)   # 32 rows, ids of tok
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curate.errors import CurateError
from curate.sets.layout import (
    MANIFEST,
    STATE,
    DamagedSetError,
    is_version_dir,
    read_manifest_file,
    versions,
)


@dataclass
class CalibrationSet:
    path: Path | None
    dataset: Any  # datasets.Dataset
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        if self.manifest:
            return f"{self.manifest['name']}@{self.manifest['version']}"
        return self.path.name if self.path else "dataset"

    @property
    def fingerprint(self) -> str:
        return self.manifest.get("fingerprint") or self.dataset._fingerprint

    @property
    def tokenizer_fingerprint(self) -> str | None:
        return (self.manifest.get("model") or {}).get("tokenizer")

    def __len__(self) -> int:
        return len(self.dataset)

    def texts(self) -> list[str]:
        return list(self.dataset["text"])

    @property
    def seq_len(self) -> int | None:
        """Tokens per row: the manifest's ``seq_len``, else the first row's stored ids, else None."""
        if self.manifest.get("seq_len"):
            return int(self.manifest["seq_len"])
        if "input_ids" in self.dataset.column_names and len(self.dataset):
            return len(self.dataset[0]["input_ids"]) or None
        return None

    def input_ids(self):
        """Every row's stored token ids, (N, L) LongTensor: :meth:`draw` without a draw."""
        return self.draw()

    def draw(self, n: int | None = None, seed: int = 0, tokenizer=None, retokenize: bool = False,
             seq_len: int | None = None, with_mask: bool = False):
        """Calibration tokens of ``n`` rows drawn without replacement with ``seed``: (N, L) LongTensor.

        The one place where prune and validate get their tokens. ``n=None`` takes every row. The
        ids are the set's stored ``input_ids``; with ``retokenize`` (or for a set that has only
        text) they are the rows' ``text`` tokenized with ``tokenizer``, the *target* model's, and
        cut to ``seq_len`` tokens (default: the set's own length, else 512); rows shorter than
        that are left out. The same ``seed`` picks the same rows either way.

        ``with_mask`` returns ``(ids, mask)``: ``mask`` (N, L) is the rows' ``assistant_mask``
        (1 on assistant tokens), which exists only beside the stored ids of a chat set.
        """
        import torch

        ds = self.dataset
        if n is not None and n > len(ds):
            raise CurateError(f"set {self.name} has {len(ds)} samples, fewer than the {n} asked for",
                              hint="lower --nsamples or build a larger set")
        if n is not None and n < len(ds):
            g = torch.Generator().manual_seed(int(seed or 0))
            idx = torch.randperm(len(ds), generator=g)[:n].sort().values.tolist()
            ds = ds.select(idx)
        stored = "input_ids" in ds.column_names and len(ds) and len(ds[0]["input_ids"])
        if stored and not retokenize:
            rows = ds["input_ids"]
            lengths = {len(r) for r in rows}
            if len(lengths) != 1:
                raise CurateError(f"set {self.name} has rows of different lengths {sorted(lengths)[:5]}",
                                  hint="calibration rows must all have L tokens")
            ids = torch.tensor(rows, dtype=torch.long)
            return (ids, self._assistant_mask(ds, ids.shape)) if with_mask else ids
        if with_mask:
            raise CurateError(f"set {self.name}: --mask assistant needs the set's stored ids and assistant_mask",
                              hint="drop --retokenize, or build the set for this model with a chat step")
        if "text" not in ds.column_names:
            raise CurateError(f"set {self.name} has no 'text' column to tokenize", hint="drop --retokenize")
        if tokenizer is None:
            raise CurateError(f"set {self.name} needs a tokenizer to tokenize its text",
                              hint="pass the target model's tokenizer")
        seq_len = seq_len or self.seq_len or 512
        encoded = tokenizer(list(ds["text"]), add_special_tokens=False)["input_ids"]
        rows = [ids[:seq_len] for ids in encoded if len(ids) >= seq_len]
        if not rows:
            raise CurateError(f"no text of {self.name} is {seq_len} tokens long with this tokenizer",
                              hint="lower --seq-len")
        return torch.tensor(rows, dtype=torch.long)

    def _assistant_mask(self, ds, shape):
        import torch

        col = ds["assistant_mask"] if "assistant_mask" in ds.column_names else None
        if col is None or any(m is None for m in col):
            raise CurateError(f"set {self.name} has no assistant_mask column (on every row)",
                              hint="build it with a 'chat' step or 'generate' with chat: true, or use --mask none")
        mask = torch.tensor(col, dtype=torch.long)
        if tuple(mask.shape) != tuple(shape):
            raise CurateError(f"set {self.name}: assistant_mask {tuple(mask.shape)} does not match input_ids "
                              f"{tuple(shape)}", hint="rebuild the set")
        return mask

    def check_tokenizer(self, tokenizer_fp: str, *, retokenize: bool = False) -> None:
        fp = self.tokenizer_fingerprint
        if fp and fp != tokenizer_fp and not retokenize:
            raise CurateError(
                f"set {self.name} was tokenized with tokenizer {fp}, the model's is {tokenizer_fp}",
                hint="use the model the set was built for, or pass --retokenize to re-tokenize its text",
            )


def resolve_set_path(spec: str | Path) -> Path:
    """``out/name/v1``, ``out/name`` (latest version), or a plain dataset folder/file."""
    p = Path(spec).expanduser()
    if not p.exists():
        raise CurateError(f"calibration set {p} does not exist", hint="pass the folder printed by 'curate build'")
    if p.is_dir() and not is_version_dir(p):
        found = versions(p)
        if found:
            return found[-1]
    return p


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:200]


def load_set(spec: str | Path, *, verify: bool = True) -> CalibrationSet:
    """Open a curate set version, a ``save_to_disk`` folder, or a parquet/jsonl/json file.

    A curate version is checked against its manifest's fingerprint first (cached by file size
    and mtime, see :mod:`curate.sets.fingerprint`); ``verify=False`` skips that (benchmarks only).
    """
    import datasets

    p = resolve_set_path(spec)
    if p.is_dir() and is_version_dir(p):
        from curate.sets.fingerprint import verify_version

        manifest = read_manifest_file(p / MANIFEST)
        if verify:
            verify_version(p, manifest=manifest)
        try:
            ds = datasets.load_from_disk(str(p))
        except Exception as exc:  # noqa: BLE001 - datasets raises many types for damaged folders
            raise DamagedSetError(f"cannot read set {p}: {_first_line(exc)}",
                                  hint="rebuild the set with 'curate build'") from None
        return CalibrationSet(p, ds, manifest)
    if p.is_dir() and (p / STATE).exists():
        try:
            return CalibrationSet(p, datasets.load_from_disk(str(p)))
        except Exception as exc:  # noqa: BLE001
            raise CurateError(f"cannot read dataset folder {p}: {_first_line(exc)}",
                              hint="re-save it with Dataset.save_to_disk") from None
    ext = p.suffix.lower().lstrip(".")
    if p.is_file() and ext in {"parquet", "json", "jsonl", "csv"}:
        if p.stat().st_size == 0:
            raise CurateError(f"calibration file {p} is empty", hint="write one row per sample with a 'text' or 'input_ids' field")
        builder = {"jsonl": "json"}.get(ext, ext)
        try:
            ds = datasets.load_dataset(builder, data_files=str(p), split="train")
        except Exception as exc:  # noqa: BLE001 - malformed files raise many types
            raise CurateError(f"cannot read calibration file {p}: {_first_line(exc)}",
                              hint=f"check that it is valid {ext}") from None
        if "text" not in ds.column_names and "input_ids" not in ds.column_names:
            raise CurateError(f"{p} has neither a 'text' nor an 'input_ids' column", hint="rename the text column to 'text'")
        if len(ds) == 0:
            raise CurateError(f"calibration file {p} has no rows", hint="write one row per sample")
        return CalibrationSet(p, ds)
    raise CurateError(f"cannot read calibration set {p}", hint="expected a curate set folder, a save_to_disk folder, or .parquet/.jsonl")
