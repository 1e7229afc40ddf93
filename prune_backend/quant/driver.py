"""Quantize every linear and every expert of a decoder, layer by layer (what ``curate quantize`` runs).

    from transformers import AutoModelForCausalLM, AutoTokenizer
    from prune_backend.quant import QuantConfig, quantize_model
    model = AutoModelForCausalLM.from_pretrained("HuggingFaceTB/SmolLM2-135M")
    tok = AutoTokenizer.from_pretrained("HuggingFaceTB/SmolLM2-135M")
    ids = tok(["some calibration text ..."] * 8, return_tensors="pt").input_ids   # (N, L)
    report = quantize_model(model, ids, QuantConfig(method="gptq", bits=4, group_size=128))

GPTQ runs through the same layer-by-layer driver as pruning (:mod:`prune_backend.driver`):
capture the inputs of layer 0, then per layer a statistics pass (X^T X of every linear's
input, one accumulator per distinct input; per expert, from the tokens routed to it, see
:mod:`prune_backend.moe`), quantization of its matrices, and an output pass
of the *quantized* layer that feeds the next one (so each layer's Hessian sees the errors of
the layers before it, as in the reference code). Within a layer every linear's statistics come
from one pass of the dense layer, as in the reference code without its ``--true-sequential``
flag (GPTQModel's ``true_sequential`` re-runs the layer after quantizing q/k/v, then o, then
gate/up; not offered here). GPTQ treats the rows of a weight independently given H, so
linears that read the same input (q/k/v; gate/up) are quantized in one call on their
concatenated rows: one Cholesky and one column loop instead of three, the same result.
Round-to-nearest reads no calibration data and runs no forward pass. An expert under
``min_expert_tokens`` takes all-token statistics or, with fallback "magnitude", round-to-nearest
(GPTQModel's rule for modules that too few tokens reach); its report row says which.
"""

from __future__ import annotations

import time

import torch

from prune_backend.driver import (
    capture_inputs,
    collect_stats,
    kv_cache_off,
    layer_prefix,
    no_stats,
    resolve_device,
    walk_layers,
)
from prune_backend.errors import PruneError
from prune_backend.quant.config import QuantConfig
from prune_backend.quant.gptq import gptq_quantize
from prune_backend.quant.grid import group_index, max_levels, rtn_quantize
from prune_backend.report import QuantReport
from prune_backend.sequential import expert_rows, model_targets
from prune_backend.targets import Target, layer_targets


def _row(name: str, layer: int, t: Target, W: torch.Tensor, Wq: torch.Tensor, g_idx: torch.Tensor,
         H: torch.Tensor | None, cfg: QuantConfig, method: str, seconds: float) -> dict:
    W, E = W.float(), Wq.float() - W.float()  # (out, in)
    out_err = None
    if H is not None:
        # ||(W - W') X||^2 / ||W X||^2 over the calibration tokens, from H = X^T X: tr(E H E^T) / tr(W H W^T).
        out_err = float(((E @ H) * E).sum() / ((W @ H) * W).sum().clamp_min(1e-30))
    return {
        "name": name, "layer": layer, "linear": t.name, "experts": t.experts, "expert": t.expert,
        "shape": list(W.shape), "method": method,
        "bits": cfg.bits, "group_size": cfg.group_size, "sym": cfg.sym, "act_order": cfg.act_order,
        "static_groups": cfg.static_groups, "levels": max_levels(Wq, g_idx),
        "weight_rel_error": float(E.norm() / W.norm().clamp_min(1e-30)), "output_rel_error": out_err,
        "seconds": seconds,
    }


@torch.no_grad()
def quantize_model(model: torch.nn.Module, input_ids: torch.LongTensor | None, cfg: QuantConfig,
                   attention_mask: torch.Tensor | None = None, progress: bool = True) -> QuantReport:
    """Fake-quantize ``model``'s decoder matrices in place; ``input_ids`` (N, L) calibrate GPTQ."""
    t0 = time.perf_counter()
    device = resolve_device(cfg.device)
    gptq = cfg.needs_calibration
    if gptq and (not isinstance(input_ids, torch.Tensor) or input_ids.dim() != 2 or input_ids.numel() == 0):
        raise PruneError("calibration input_ids must be a non-empty (N, L) LongTensor",
                         hint="GPTQ needs calibration tokens; round-to-nearest (method rtn) does not")
    model_targets(model)  # an unknown weight fails before anything changes
    prefix = layer_prefix(model)
    shape = tuple(input_ids.shape) if gptq else (0, 0)
    report = QuantReport(method=cfg.method, bits=cfg.bits, group_size=cfg.group_size, config=cfg.to_dict(),
                         device=str(device), nsamples=int(shape[0]), seqlen=int(shape[1]))
    with kv_cache_off(model):
        batches = capture_inputs(model, input_ids, attention_mask, device, cfg.batch_size) if gptq else []
        for i, layer in walk_layers(model, batches, device, desc=f"quantize {cfg.label}", progress=progress):
            lt = layer_targets(layer, where=f"decoder layer {i}")
            col = (collect_stats(layer, lt, batches, i, hessian=True, **cfg.moe_options()) if gptq
                   else no_stats(lt))
            # Targets sharing one input are quantized together (see the module docstring).
            shared: dict[str, list[Target]] = {}
            for t in lt.targets:
                shared.setdefault(col.share_key(t), []).append(t)
            rows = []
            for group in shared.values():
                t = time.perf_counter()
                rtn_fallback = (group[0].experts, group[0].expert) in col.magnitude
                H = None if (not gptq or rtn_fallback) else col.stats_for(group[0]).hessian
                Ws = [g.weight for g in group]  # each (out_k, in)
                if H is not None:
                    Q, g_idx = gptq_quantize(torch.cat(Ws), H, cfg.bits, cfg.group_size, cfg.sym,
                                             act_order=cfg.act_order, static_groups=cfg.static_groups,
                                             percdamp=cfg.percdamp, blocksize=cfg.blocksize)
                    method = "gptq"
                else:  # rtn, the magnitude fallback, or a matrix that saw no input during calibration
                    Q = torch.cat([rtn_quantize(W, cfg.bits, cfg.group_size, cfg.sym) for W in Ws])
                    g_idx, method = group_index(Q.shape[1], cfg.group_size), "rtn"
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                seconds = (time.perf_counter() - t) / len(group)
                for g, W, Qn in zip(group, Ws, Q.split([w.shape[0] for w in Ws]), strict=True):
                    dense = W.clone()
                    W.copy_(Qn.to(W.dtype))
                    rows.append(_row(f"{prefix}.{i}.{g.name}", i, g, dense, W, g_idx, H, cfg, method, seconds))
            report.layers.extend(rows)
            report.experts.extend(expert_rows(i, col, rows))
            del col
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    report.seconds = time.perf_counter() - t0
    return report
