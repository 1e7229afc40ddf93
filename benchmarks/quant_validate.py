"""``curate validate`` under quantization before the validate command has a flag for it: two sets under GPTQ W3.

    python benchmarks/quant_validate.py /tmp/sets/wiki-windows/v1.0.0 /tmp/sets/mix-uniform/v1.0.0 \\
        --bits 3 --group-size 128 --seeds 2 --nsamples 16 --out /tmp/quant-validate
    python benchmarks/quant_validate.py SET_A SET_B --seeds 1 --ppl-windows 1 --threads 1 \\
        --texts heldout:wikipedia,pydoc-topics,click-source,mmlu-math --out /tmp/quant-validate-small

It runs the library's :func:`curate.validate.validate` unchanged (same draws, dense cache,
evaluation, retention report) with its pruning step replaced by
:func:`prune_backend.compress.compress_model` on a :class:`QuantConfig` (the ``prune_fn`` hook).
The report's method column reads the quantization label; its sparsity column (0.5) is the
validate config's placeholder, not a measurement: the quantized model is dense.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without reinstalling

from curate.evaluate.dimensions import summarize  # noqa: E402
from curate.evaluate.evaluator import EvalConfig  # noqa: E402
from curate.validate import ValidateConfig, validate  # noqa: E402
from prune_backend.compress import compress_model  # noqa: E402
from prune_backend.quant import QuantConfig  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("sets", nargs="+")
    p.add_argument("--method", default="gptq", choices=["gptq", "rtn"])
    p.add_argument("--bits", type=int, default=3)
    p.add_argument("--group-size", type=int, default=128)
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--nsamples", type=int, default=16)
    p.add_argument("--ppl-windows", type=int, default=2)
    p.add_argument("--texts", default=None, help="comma-separated held-out texts (default: validate's)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    qcfg = QuantConfig(method=args.method, bits=args.bits, group_size=args.group_size)
    texts = {"texts": args.texts.split(",")} if args.texts else {}
    cfg = ValidateConfig(sets=args.sets, out=Path(args.out), method=qcfg.label.replace(" ", "-"), seeds=args.seeds,
                         nsamples=args.nsamples, eval=EvalConfig(tasks=(), ppl_windows=args.ppl_windows, **texts),
                         progress=False)
    table = validate(cfg, prune_fn=lambda model, ids, _cfg: compress_model(model, ids, qcfg, progress=False),
                     log=print)
    summary = summarize(table)
    dims = summary["dimension"].unique(maintain_order=True).to_list()
    print(f"retention under {qcfg.label} (mean ± std over {args.seeds} seeds, {args.nsamples} rows per draw)")
    print("set".ljust(28) + "".join(d.rjust(18) for d in dims))
    for s in sorted(set(summary["set"].to_list())):
        rows = {r["dimension"]: r for r in summary.filter(summary["set"] == s).iter_rows(named=True)}
        print(s[:27].ljust(28) + "".join(
            (f"{rows[d]['mean']:.3f} ± {rows[d]['std']:.3f}" if d in rows else "n/a").rjust(18) for d in dims))
    print(f"report: {args.out}/report.md")


if __name__ == "__main__":
    main()
