"""Our Wanda / SparseGPT math vs llm-compressor's on the very same dense inputs, linear by linear.

    .venv-llmc/bin/python benchmarks/llmc_layer_check.py out/wiki-windows/v1.0.0 --layers 0 --json runs/llmc_layer.json

Cheap counterpart of ``llmc_compare.py`` (which runs both whole pipelines and needs minutes of a
quiet machine): one dense forward of the calibration set records every linear's input X (T, in);
then, for each linear of ``--layers``, our ``wanda_mask`` / ``sparsegpt_prune`` and
llm-compressor 0.14's own ``sparsify_weight`` functions (its modifiers call exactly these, fed
by its ``accumulate_row_scalars`` / ``accumulate_hessian`` hooks) prune the same weight from the
same X. Printed per method: the share of our pruned positions that theirs prunes too, and the
relative output error ||XW^T - XW'^T||_F / ||XW^T||_F of each on those tokens. Layer 0 sees
these very inputs in both pipelines; deeper layers see dense (not pruned-propagated) inputs here.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without reinstalling

from curate.models import decoder_layers, load_model  # noqa: E402
from curate.sets.read import load_set  # noqa: E402
from prune_backend.methods.sparsegpt import sparsegpt_prune  # noqa: E402
from prune_backend.methods.wanda import wanda_mask  # noqa: E402


def rel_err(x: torch.Tensor, w: torch.Tensor, w2: torch.Tensor) -> float:
    """||X W^T - X W2^T||_F / ||X W^T||_F; x (T, in), w and w2 (out, in)."""
    return float((x @ (w - w2).t()).norm() / (x @ w.t()).norm())


@torch.no_grad()
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("calibration", help="a curate set version folder")
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--layers", default="0", help="comma-separated decoder layer indices")
    ap.add_argument("--sparsity", type=float, default=0.5)
    ap.add_argument("--methods", default="wanda,sparsegpt")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    from llmcompressor.modifiers.pruning.sparsegpt import sgpt_sparsify
    from llmcompressor.modifiers.pruning.wanda import wanda_sparsify

    ids = load_set(args.calibration).input_ids()  # (N, L)
    model, _, _ = load_model(args.model)
    layers = [int(i) for i in args.layers.split(",")]
    linears = {f"{i}.{n}": m for i in layers for n, m in decoder_layers(model)[i].named_modules()
               if isinstance(m, torch.nn.Linear)}
    xs: dict[str, list[torch.Tensor]] = {k: [] for k in linears}
    hooks = [m.register_forward_pre_hook(lambda _m, a, k=k: xs[k].append(a[0].detach().clone()))
             for k, m in linears.items()]
    for s in range(ids.shape[0]):  # one sample per forward, as llm-compressor's batch_size 1
        model(input_ids=ids[s:s + 1], use_cache=False)
    for h in hooks:
        h.remove()
    rows = []
    for k, mod in linears.items():
        x3 = torch.cat(xs[k])  # (N, L, in)
        x = x3.reshape(-1, x3.shape[-1]).float()  # (T, in)
        w = mod.weight.detach().float()  # (out, in)
        row = {"linear": k, "shape": list(w.shape)}
        for method in args.methods.split(","):
            if method == "wanda":
                ours_mask = wanda_mask(w, x.pow(2).sum(0), args.sparsity)
                ours_w = w.masked_fill(ours_mask, 0.0)
                rs, n = wanda_sparsify.make_empty_row_scalars(mod), 0
                for b in xs[k]:
                    rs, n = wanda_sparsify.accumulate_row_scalars(b, mod, rs, n)
                theirs_w = wanda_sparsify.sparsify_weight(mod, {mod: rs}, args.sparsity, 0, 0).float()
            else:
                ours_w, ours_mask = sparsegpt_prune(w, x.t() @ x, args.sparsity, blocksize=128, percdamp=0.01)
                H, n = sgpt_sparsify.make_empty_hessian(mod), 0
                for b in xs[k]:
                    H, n = sgpt_sparsify.accumulate_hessian(b, mod, H, n)
                _, theirs_w = sgpt_sparsify.sparsify_weight(mod, {mod: H}, args.sparsity, 0, 0, 128, 0.01, False)
                theirs_w = theirs_w.float()
            theirs_mask = theirs_w == 0
            row[method] = {"shared": float((ours_mask & theirs_mask).sum() / ours_mask.sum()),
                           "zeros_ours": int(ours_mask.sum()), "zeros_theirs": int(theirs_mask.sum()),
                           "err_ours": rel_err(x, w, ours_w), "err_theirs": rel_err(x, w, theirs_w)}
            r = row[method]
            print(f"{k:22s} {method:9s} shared {100 * r['shared']:7.3f} %  zeros {r['zeros_ours']} / "
                  f"{r['zeros_theirs']}  rel. output error ours {r['err_ours']:.5f} theirs {r['err_theirs']:.5f}",
                  flush=True)
        rows.append(row)
        if args.json:
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(json.dumps({"shape": list(ids.shape), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
