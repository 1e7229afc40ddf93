"""One call from a model name and a calibration set to a saved quantized model (what ``curate quantize`` runs).

    from prune_backend.quant import QuantConfig
    from curate.quantize import quantize_with_set
    report = quantize_with_set("smollm2-135m", "out/default/v1.0.0", QuantConfig(method="gptq", bits=4),
                               out_dir="runs/gptq-w4g128", nsamples=32, seed=0)

The sibling of :func:`curate.prune.prune_with_set`, with the same checks in the same
order before anything is written (config on construction, output folder, set, model, the set's
tokenizer) and the same row draw (:meth:`curate.sets.read.CalibrationSet.draw`). Round-to-nearest reads no calibration data: ``calibration``
may be None for it.
"""

from __future__ import annotations

from pathlib import Path

from curate.errors import CurateError
from curate.prune import check_out_dir, check_vocabulary
from prune_backend.quant.config import QuantConfig
from prune_backend.report import QuantReport


def quantize_with_set(model_name: str, calibration: str | Path | None, cfg: QuantConfig, *, out_dir: str | Path,
                      nsamples: int | None = None, seed: int = 0, retokenize: bool = False,
                      seq_len: int | None = None, dtype: str = "float32", progress: bool = True) -> QuantReport:
    from curate.models import bos_prefix, load_model, with_prefix
    from curate.sets.read import load_set
    from prune_backend.quant.driver import quantize_model
    from prune_backend.save import save_pruned

    out = check_out_dir(out_dir)
    if nsamples is not None and nsamples < 1:
        raise CurateError(f"--nsamples {nsamples} must be >= 1")
    if calibration is None and cfg.needs_calibration:
        raise CurateError(f"method {cfg.method} needs --calibration", hint="pass a set folder, or use --method rtn")
    given = load_set(calibration) if calibration is not None else None  # checked even where rtn reads none
    cs = given if cfg.needs_calibration else None
    model, tok, info = load_model(model_name, dtype=dtype)
    ids = None
    if cs is not None:
        cs.check_tokenizer(info.tokenizer, retokenize=retokenize)
        ids = cs.draw(nsamples, seed, tokenizer=tok, retokenize=retokenize, seq_len=seq_len)
        check_vocabulary(ids, model, cs.name, model_name)
        ids, _ = with_prefix(ids, bos_prefix(tok))  # the model's <bos> first, where it has one
    report = quantize_model(model, ids, cfg, progress=progress)
    report.config["model"] = info.to_dict()
    if cs is not None:
        report.config["calibration"] = {"name": cs.name, "fingerprint": cs.fingerprint, "path": str(cs.path),
                                        "seed": seed, "retokenize": retokenize}
    save_pruned(model, tok, out, report)
    return report
