"""Our Wanda / SparseGPT vs llm-compressor's on the same curate set: held-out perplexity side by side.

    make llmc-env
    .venv-llmc/bin/python -m curate build wiki-windows --set n_samples=32 --set seq_len=512 \\
        --set components.0.steps.0.method=packing --out out
    .venv-llmc/bin/python benchmarks/llmc_compare.py out/wiki-windows/v1.0.0 --json runs/llmc_compare.json
    # on a loaded machine: one process per method (each writes its JSON when its pair is done)
    .venv-llmc/bin/python benchmarks/llmc_compare.py SET --methods sparsegpt --json runs/llmc_sgpt.json

Runs in .venv-llmc (llmcompressor 0.14.0.1 pins transformers<=5.17.0). For each method the
bundled model is reloaded, pruned once by prune_backend's own implementation and once by
llm-compressor's modifier through prune_backend's ``llmcompressor-*`` adapter (same set, same
sparsity, same SparseGPT block size and dampening), and evaluated on the same held-out windows
(``heldout:wikipedia`` by default, ``--windows`` x 512 tokens). Also printed: how many of layer
0's pruned positions the two implementations share (layer 0 sees identical inputs in both, so
this isolates the math from error propagation).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without reinstalling

from curate.evaluate.perplexity import perplexity  # noqa: E402
from curate.evaluate.texts import build_windows, resolve_text  # noqa: E402
from curate.models import decoder_layers, load_model  # noqa: E402
from curate.sets.read import load_set  # noqa: E402
from prune_backend import PruneConfig, prune_model  # noqa: E402


def layer0_masks(model) -> dict[str, torch.Tensor]:
    layer = decoder_layers(model)[0]
    return {n: (m.weight == 0).clone() for n, m in layer.named_modules() if isinstance(m, torch.nn.Linear)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("calibration", help="a curate set version folder")
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--methods", default="wanda,sparsegpt")
    ap.add_argument("--sparsity", type=float, default=0.5)
    ap.add_argument("--pattern", default="unstructured")
    ap.add_argument("--text", default="heldout:wikipedia")
    ap.add_argument("--windows", type=int, default=16)
    ap.add_argument("--seqlen", type=int, default=512)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    cs = load_set(args.calibration)
    ids = cs.input_ids()  # (N, L)
    model, tok, _ = load_model(args.model)
    win = build_windows(resolve_text(args.text), tok, args.seqlen, args.windows).input_ids  # (W, seqlen)
    dense = perplexity(model, win)
    print(f"calibration {cs.name}: {tuple(ids.shape)}; held-out {args.text}: {tuple(win.shape)}; dense ppl {dense:.3f}",
          flush=True)
    rows = []
    for method in args.methods.split(","):
        res: dict[str, dict] = {}
        for impl, name in (("curate", method), ("llm-compressor", f"llmcompressor-{method}")):
            model, _, _ = load_model(args.model)  # fresh dense copy each run
            t0 = time.perf_counter()
            report = prune_model(model, ids, PruneConfig(method=name, sparsity=args.sparsity, pattern=args.pattern),
                                 progress=False)
            secs = time.perf_counter() - t0
            ppl = perplexity(model, win)
            zeros = sum(r["zeros"] for r in report.layers) / sum(r["numel"] for r in report.layers)
            res[impl] = {"ppl": ppl, "seconds": secs, "sparsity": zeros, "masks": layer0_masks(model)}
            print(f"  {method:9s} {impl:15s} ppl {ppl:8.3f}  ({secs:6.1f} s)", flush=True)
        a, b = res["curate"]["masks"], res["llm-compressor"]["masks"]
        same = sum(int((a[k] & b[k]).sum()) for k in a) / max(1, sum(int(a[k].sum()) for k in a))
        ours, theirs = res["curate"]["ppl"], res["llm-compressor"]["ppl"]
        rows.append({"method": method, "sparsity": args.sparsity, "pattern": args.pattern,
                     "ppl_curate": ours, "ppl_llmcompressor": theirs,
                     "rel_diff": (ours - theirs) / theirs, "seconds_curate": res["curate"]["seconds"],
                     "seconds_llmcompressor": res["llm-compressor"]["seconds"], "layer0_mask_overlap": same,
                     "sparsity_curate": res["curate"]["sparsity"],
                     "sparsity_llmcompressor": res["llm-compressor"]["sparsity"]})
        print(f"  {method}: relative difference {100 * rows[-1]['rel_diff']:+.2f} %, layer-0 pruned positions shared "
              f"{100 * same:.2f} %", flush=True)
        out = {"calibration": cs.name, "fingerprint": cs.fingerprint, "shape": list(ids.shape), "text": args.text,
               "windows": list(win.shape), "dense_ppl": dense, "torch_threads": torch.get_num_threads(), "rows": rows}
        if args.json:  # after every method: a long run cut short keeps what it measured
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(json.dumps(out, indent=2))
    print("\n| method | curate ppl | llm-compressor ppl | difference | layer-0 mask overlap | seconds (curate / llmc) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['method']} | {r['ppl_curate']:.2f} | {r['ppl_llmcompressor']:.2f} | {100 * r['rel_diff']:+.2f} % "
              f"| {100 * r['layer0_mask_overlap']:.2f} % | {r['seconds_curate']:.0f} / {r['seconds_llmcompressor']:.0f} |")


if __name__ == "__main__":
    main()
