"""One call from a model name and a calibration set to a saved pruned model (what ``curate prune`` runs).

    from prune_backend import PruneConfig
    from prune_backend.pipeline import prune_with_set
    report = prune_with_set("smollm2-135m", "out/default/v1.0.0", PruneConfig(method="wanda"),
                            out_dir="runs/wanda50", nsamples=32, seed=0)

Everything that can be refused is checked before anything is written: the config (on
construction), the output folder, the set, the model, and the set's tokenizer (a set tokenized
for another tokenizer is refused unless ``retokenize``, which re-tokenizes its ``text`` into rows
of the set's own length).
"""

from __future__ import annotations

from pathlib import Path

from curate.errors import CurateError
from prune_backend.config import PruneConfig
from prune_backend.report import PruneReport


def check_out_dir(out_dir: str | Path) -> Path:
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise CurateError(f"output folder {out} is not empty", hint="choose a new --out folder")
    return out


def calibration_ids(cs, tokenizer, *, nsamples: int | None, seed: int, retokenize: bool,
                    seq_len: int | None = None):
    """(N, L) tokens of set ``cs``: its own ``input_ids``, or its text re-tokenized with ``tokenizer``."""
    import torch

    has_ids = "input_ids" in cs.dataset.column_names
    if not retokenize:
        return cs.input_ids(n=nsamples, seed=seed, tokenizer=tokenizer, seq_len=seq_len or 512)
    if "text" not in cs.dataset.column_names:
        raise CurateError(f"set {cs.name} has no 'text' column to re-tokenize", hint="drop --retokenize")
    if seq_len is None:
        seq_len = len(cs.dataset[0]["input_ids"]) if has_ids else 512
    ds = cs.dataset
    if nsamples is not None and nsamples < len(ds):
        g = torch.Generator().manual_seed(int(seed or 0))
        ds = ds.select(torch.randperm(len(ds), generator=g)[:nsamples].sort().values.tolist())
    rows = [ids[:seq_len] for ids in tokenizer(list(ds["text"]), add_special_tokens=False)["input_ids"]
            if len(ids) >= seq_len]
    if not rows:
        raise CurateError(f"no text of {cs.name} is {seq_len} tokens long with this tokenizer", hint="lower --seq-len")
    return torch.tensor(rows, dtype=torch.long)


def prune_with_set(model_name: str, calibration: str | Path, cfg: PruneConfig, *, out_dir: str | Path,
                   nsamples: int | None = None, seed: int = 0, retokenize: bool = False,
                   seq_len: int | None = None, dtype: str = "float32", progress: bool = True) -> PruneReport:
    from curate.dataset import load_set
    from curate.models import load_model
    from prune_backend.save import save_pruned
    from prune_backend.sequential import prune_model

    out = check_out_dir(out_dir)
    if nsamples is not None and nsamples < 1:
        raise CurateError(f"--nsamples {nsamples} must be >= 1")
    cs = load_set(calibration)
    model, tok, info = load_model(model_name, dtype=dtype)
    cs.check_tokenizer(info.tokenizer, retokenize=retokenize)
    ids = calibration_ids(cs, tok, nsamples=nsamples, seed=seed, retokenize=retokenize, seq_len=seq_len)
    if int(ids.max()) >= model.get_input_embeddings().weight.shape[0]:
        raise CurateError(f"set {cs.name} has token ids beyond the vocabulary of {model_name}",
                          hint="use the model the set was built for, or pass --retokenize")
    report = prune_model(model, ids, cfg, progress=progress)
    report.config.update({"model": info.to_dict(), "calibration": {"name": cs.name, "fingerprint": cs.fingerprint,
                                                                   "path": str(cs.path), "seed": seed}})
    save_pruned(model, tok, out, report)
    return report
