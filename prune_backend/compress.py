"""One entry point for every way a calibration set is used: prune or quantize, chosen by the config's type.

    from prune_backend import PruneConfig
    from prune_backend.compress import compress_model, describe
    from prune_backend.quant import QuantConfig
    report = compress_model(model, ids, PruneConfig(method="wanda"))               # -> PruneReport
    report = compress_model(model, ids, QuantConfig(method="gptq", bits=3))        # -> QuantReport
    describe(QuantConfig(method="gptq", bits=3))   # {'kind': 'quantize', 'label': 'gptq W3 g128 sym', ...}

Both change ``model`` in place and keep its dtype, so a caller that evaluates a compressed model
(``curate validate``: draw, compress, evaluate, restore the dense weights) needs no other branch
than this call. ``describe`` gives the fields a results table records for either kind.
"""

from __future__ import annotations

from typing import Any

import torch

from prune_backend.config import PruneConfig
from prune_backend.errors import PruneError
from prune_backend.quant.config import QuantConfig

CompressConfig = PruneConfig | QuantConfig


def compress_model(model: torch.nn.Module, input_ids: torch.LongTensor | None, cfg: CompressConfig,
                   attention_mask: torch.Tensor | None = None, progress: bool = True,
                   stat_mask: torch.Tensor | None = None):
    """Prune (PruneConfig) or fake-quantize (QuantConfig) ``model`` in place on ``input_ids`` (N, L)."""
    if isinstance(cfg, QuantConfig):
        if stat_mask is not None:
            raise PruneError("quantization does not take a token mask", hint="drop --mask")
        from prune_backend.quant.driver import quantize_model

        return quantize_model(model, input_ids, cfg, attention_mask=attention_mask, progress=progress)
    if isinstance(cfg, PruneConfig):
        from prune_backend.sequential import prune_model

        return prune_model(model, input_ids, cfg, attention_mask=attention_mask, progress=progress,
                           stat_mask=stat_mask)
    raise PruneError(f"cannot compress with a {type(cfg).__name__}", hint="pass a PruneConfig or a QuantConfig")


def describe(cfg: CompressConfig) -> dict[str, Any]:
    """What a results table records about a compression: kind, label, and the kind's own numbers."""
    if isinstance(cfg, QuantConfig):
        return {"kind": "quantize", "label": cfg.label, "method": cfg.method, "bits": cfg.bits,
                "group_size": cfg.group_size, "sym": cfg.sym, "act_order": cfg.act_order}
    d = cfg.to_dict()
    label = (d["method"] + ("+owl" if d.get("owl") else "") + ("+dsnot" if d.get("dsnot") else "")
             + ("+assistant-mask" if d.get("mask") == "assistant" else ""))
    return {"kind": "prune", "label": label, "method": d["method"], "sparsity": d["sparsity"], "pattern": d["pattern"]}
