"""Held-out perplexity of the bundled model quantized with GPTQ and round-to-nearest, dense beside it.

    python benchmarks/quant_ppl.py                     # W4 g128 and W3 g128, GPTQ and RTN, 32 x 512 calibration
    python benchmarks/quant_ppl.py --runs gptq:3:128:act,gptq:3:128:act:static,gptq:4:-1 --json out.json

Calibration and held-out windows and the perplexity measure are those of
``benchmarks/prune_speed.py`` (bundled Wikipedia summaries split by document: calibration from
the first 90 %, held-out from the last 10 %; exp of the mean next-token NLL), so the figures sit
beside the pruning ones. A run is ``method:bits:group_size`` plus optional ``:asym``, ``:act``
(act-order) and ``:static`` (static groups); symmetric by default, as in GPTQModel.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without reinstalling
sys.path.insert(0, str(Path(__file__).resolve().parent))

from prune_speed import wiki_windows  # noqa: E402

from curate.evaluate.perplexity import perplexity  # noqa: E402  (the one token log-prob kernel)
from prune_backend.quant import QuantConfig, quantize_model  # noqa: E402

DEFAULT_RUNS = "rtn:4:128,gptq:4:128,rtn:3:128,gptq:3:128"


def config(spec: str, device: str, batch_size: int) -> QuantConfig:
    method, bits, group, *flags = spec.split(":")
    return QuantConfig(method=method, bits=int(bits), group_size=int(group), sym="asym" not in flags,
                       act_order="act" in flags, static_groups="static" in flags, device=device,
                       batch_size=batch_size)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="smollm2-135m")
    p.add_argument("--runs", default=DEFAULT_RUNS, help="comma-separated method:bits:group[:asym][:act][:static]")
    p.add_argument("--nsamples", type=int, default=32)
    p.add_argument("--seqlen", type=int, default=512)
    p.add_argument("--heldout-n", type=int, default=16)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--device", default=None)
    p.add_argument("--dtype", default="float32")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--no-dense", action="store_true", help="skip the dense perplexity (runs split over processes)")
    p.add_argument("--json", default=None, help="write the results here")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    cfgs = [(spec, config(spec, str(device), args.batch_size)) for spec in args.runs.split(",")]  # fail fast

    from curate.models import load_model

    model, tok, _ = load_model(args.model, dtype=args.dtype)
    model.to(device)
    ids = wiki_windows(tok, args.nsamples, args.seqlen, heldout=False)
    held = wiki_windows(tok, args.heldout_n, args.seqlen, heldout=True)
    dense = {k: v.detach().clone() for k, v in model.state_dict().items()}
    res = {"model": args.model, "device": str(device), "dtype": args.dtype, "calibration": list(ids.shape),
           "heldout": list(held.shape), "torch_threads": torch.get_num_threads(), "runs": []}
    res["dense_ppl"] = None if args.no_dense else perplexity(model, held, batch_size=4)
    print(f"{args.model} {args.dtype} on {device}, calibration {tuple(ids.shape)}, held-out {tuple(held.shape)}, "
          f"{torch.get_num_threads()} threads")
    print(f"{'run':28s} {'seconds':>8s} {'levels':>6s} {'held-out ppl':>12s}")
    if res["dense_ppl"] is not None:
        print(f"{'dense':28s} {'':8s} {'':6s} {res['dense_ppl']:12.2f}", flush=True)
    for spec, cfg in cfgs:
        model.load_state_dict(dense)
        t = time.perf_counter()
        rep = quantize_model(model, ids, cfg, progress=False)
        s = time.perf_counter() - t
        ppl = perplexity(model, held, batch_size=4)
        row = {"run": spec, "label": cfg.label, "seconds": s, "max_levels": rep.max_levels, "ppl": ppl,
               "mean_output_rel_error": (sum(r["output_rel_error"] for r in rep.layers) / len(rep.layers)
                                         if cfg.needs_calibration else None)}
        res["runs"].append(row)
        print(f"{cfg.label:28s} {s:8.1f} {rep.max_levels:6d} {ppl:12.2f}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2))
    return res


if __name__ == "__main__":
    main()
