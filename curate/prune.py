"""One call from a model name and a calibration set to a saved pruned model (what ``curate prune`` runs).

    from prune_backend import PruneConfig
    from curate.prune import prune_with_set
    report = prune_with_set("smollm2-135m", "out/default/v1.0.0", PruneConfig(method="wanda"),
                            out_dir="runs/wanda50", nsamples=32, seed=0)

This is curate's glue around :mod:`prune_backend`, which knows nothing of sets: everything that
can be refused is checked before anything is written -- the config (on construction, before
this is called), the output folder, the set, the model, and the set's tokenizer (a set
tokenized for another tokenizer is refused unless ``retokenize``, which tokenizes its ``text``
with the model's tokenizer, see :meth:`curate.sets.read.CalibrationSet.draw`).
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


def check_vocabulary(ids, model, set_name: str, model_name: str) -> None:
    """Token ids (N, L) beyond the model's embedding table are the sign of a foreign tokenizer."""
    if int(ids.max()) >= model.get_input_embeddings().weight.shape[0]:
        raise CurateError(f"set {set_name} has token ids beyond the vocabulary of {model_name}",
                          hint="use the model the set was built for, or pass --retokenize")


def prune_with_set(model_name: str, calibration: str | Path, cfg: PruneConfig, *, out_dir: str | Path,
                   nsamples: int | None = None, seed: int = 0, retokenize: bool = False,
                   seq_len: int | None = None, dtype: str = "float32", progress: bool = True) -> PruneReport:
    from curate.models import bos_prefix, load_model, with_prefix
    from curate.sets.read import load_set
    from prune_backend.save import save_pruned
    from prune_backend.sequential import prune_model

    out = check_out_dir(out_dir)
    if nsamples is not None and nsamples < 1:
        raise CurateError(f"--nsamples {nsamples} must be >= 1")
    cs = load_set(calibration)
    model, tok, info = load_model(model_name, dtype=dtype)
    cs.check_tokenizer(info.tokenizer, retokenize=retokenize)
    stat_mask = None
    if cfg.mask == "assistant":  # the statistics count the set's assistant tokens only
        ids, stat_mask = cs.draw(nsamples, seed, tokenizer=tok, retokenize=retokenize, seq_len=seq_len,
                                 with_mask=True)
    else:
        ids = cs.draw(nsamples, seed, tokenizer=tok, retokenize=retokenize, seq_len=seq_len)
    check_vocabulary(ids, model, cs.name, model_name)
    ids, stat_mask = with_prefix(ids, bos_prefix(tok), stat_mask)  # the model's <bos> first, where it has one
    report = prune_model(model, ids, cfg, progress=progress, stat_mask=stat_mask)
    report.config.update({"model": info.to_dict(), "calibration": {"name": cs.name, "fingerprint": cs.fingerprint,
                                                                   "path": str(cs.path), "seed": seed,
                                                                   "retokenize": retokenize}})
    save_pruned(model, tok, out, report)
    return report
