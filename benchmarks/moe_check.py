"""The MoE check of issue 19: six architectures, every decoder weight pruned and quantized, routers untouched.

    python benchmarks/moe_check.py                           # the table in benchmarks/NOTES.md (~1-2 min, CPU)
    python benchmarks/moe_check.py --arch mixtral --width 128 --json out/moe_check.json

For each tiny random config of ``tests/tiny_moe.py`` (Mixtral, Qwen2-MoE with its shared expert,
Qwen3-MoE, OLMoE, DeepSeek-V3 with a dense first layer and MLA, gpt-oss with biases and
transposed, interleaved gate/up), at ``--width`` (default 256: hidden 256 and expert width 256,
so GPTQ's groups of 128 columns cut every expert row in two), in the fused layout transformers
5 builds and in the unfused one (one ``nn.Linear`` per expert, as older checkpoints; not
gpt-oss, which transformers never stored unfused), from the same weights and one set of
calibration tokens, it measures:

* ``covered``: elements of the matrices the backend prunes plus the routers it keeps, over the
  elements of every decoder weight found by ``named_parameters`` (every 2-D / 3-D parameter of
  the decoder layers but biases: gpt-oss's expert biases are (E, out)); 1.000 = no weight skipped;
* sparsity over every decoder weight (routers included, counted from ``named_parameters``, not
  from the backend's own list) after Wanda 50 %, SparseGPT 50 %,
  Wanda 2:4 and SparseGPT 2:4, each on a fresh copy of the model; ``ok`` when within 0.005 of
  0.5 (and whether the backend's own ``measure_sparsity`` gives the same number, printed below the table);
* the sha256 of every router / gate parameter's bytes (found by name: ``gate``, ``router``,
  ``shared_expert_gate``) before, and whether it is the same after each of the 5 runs;
* GPTQ W4 g128: how many experts have every matrix changed and on a 16-value grid per (row, group
  of 128 columns) (counted on the model's own 3-D parameters: (E, out, in), or (E, in, out) when
  ``is_transposed``; and on the unfused linears), the most distinct values in one group row
  over every expert matrix, and over every other matrix of the decoder;
* tokens routed per expert (min-max over the experts of every MoE layer) and whether they sum to
  tokens x top-k in every MoE layer (from the Wanda report);
* ``prune_model`` wall time of Wanda and SparseGPT 50 % over one dense forward of the same
  tokens through the decoder (``model.model``, median of 3, re-timed before each run; CPU, one
  thread). On models this small the per-expert Python work dominates, so the ratio does not carry
  over to large models; on a shared machine it is noisy. GPU: not measured here.

Nothing is asserted; every number printed is measured in this run.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without reinstalling

from prune_backend import PruneConfig, decoder_layers, prune_model  # noqa: E402
from prune_backend.quant import QuantConfig, quantize_model  # noqa: E402
from prune_backend.targets import layer_targets, measure_sparsity  # noqa: E402

# the tests' tiny configs, loaded from their file: tests/ stays off sys.path
_spec = importlib.util.spec_from_file_location("tiny_moe", ROOT / "tests" / "tiny_moe.py")
assert _spec is not None and _spec.loader is not None
tiny = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny)

ROUTER_PARTS = {"gate", "router", "shared_expert_gate"}
PRUNES = [("wanda", "unstructured"), ("sparsegpt", "unstructured"), ("wanda", "2:4"), ("sparsegpt", "2:4")]


def build(arch: str, layout: str, width: int):
    model = tiny.tiny_moe(arch, width=width)
    return tiny.unfuse_experts(model) if layout == "unfused" else model


def decoder_params(model):
    """(name, parameter) of every parameter of the decoder layers, as named_parameters lists them."""
    for i, layer in enumerate(decoder_layers(model)):
        for name, p in layer.named_parameters():
            yield f"{i}.{name}", p


def decoder_weights(model):
    """Every 2-D / 3-D decoder parameter but biases (gpt-oss's expert biases are (E, out): still biases)."""
    for name, p in decoder_params(model):
        if p.dim() >= 2 and not name.endswith("bias"):
            yield name, p


def is_router(name: str) -> bool:
    return bool(ROUTER_PARTS & set(name.split(".")[:-1]))


def router_hash(model) -> tuple[str, int]:
    h, n = hashlib.sha256(), 0
    for name, p in decoder_params(model):
        if is_router(name):
            h.update(name.encode() + p.detach().contiguous().numpy().tobytes())
            n += 1
    return h.hexdigest(), n


def weight_sparsity(model) -> float:
    """Zeros over every weight of the decoder layers (:func:`decoder_weights`, routers included)."""
    z = n = 0
    for _, p in decoder_weights(model):
        z += int((p == 0).sum())
        n += p.numel()
    return z / n


def covered(model) -> float:
    """(pruned targets + kept routers) elements over every 2-D / 3-D decoder parameter's elements."""
    seen = sum(t.weight.numel() for layer in decoder_layers(model) for t in layer_targets(layer).targets)
    seen += sum(w.numel() for layer in decoder_layers(model) for w in layer_targets(layer).routers.values()
                if w.dim() >= 2)
    return seen / sum(p.numel() for _, p in decoder_weights(model))


def expert_matrices(model):
    """(name, (E, out, in) or (1, out, in) tensor) of every expert matrix, read off the model's own
    parameters: fused 3-D parameters (transposed when the module says ``is_transposed``) and the
    unfused ``experts.<e>.*`` linears."""
    for i, layer in enumerate(decoder_layers(model)):
        for mname, mod in layer.named_modules():
            for pname, p in mod.named_parameters(recurse=False):
                full = f"{i}.{mname}.{pname}"
                if pname.endswith("bias"):
                    continue
                if p.dim() == 3:
                    yield full, p.detach().transpose(1, 2) if getattr(mod, "is_transposed", False) else p.detach()
                elif p.dim() == 2 and ".experts." in f".{mname}." and mname.split(".")[-2].isdigit():
                    yield full, p.detach()[None]


def expert_key(name: str, e: int) -> tuple[str, int]:
    """``0.mlp.experts.gate_up_proj``, e -> ("0.mlp.experts", e); ``0.mlp.experts.3.w1.weight``, 0 ->
    ("0.mlp.experts", 3)."""
    parts = name.split(".")
    if parts[-3].isdigit():  # an unfused linear's weight
        return ".".join(parts[:-3]), int(parts[-3])
    return ".".join(parts[:-1]), e


def max_group_values(w: torch.Tensor, group: int = 128) -> int:
    """Most distinct values in one (row, run of ``group`` input columns) of (E, out, in) ``w``."""
    best = 0
    for s in range(0, w.shape[-1], group):
        v = w[..., s:s + group].sort(-1).values  # (E, out, <=group)
        best = max(best, int((1 + (v[..., 1:] != v[..., :-1]).sum(-1)).max()))
    return best


def other_matrices(model):
    expert = {n for n, _ in expert_matrices(model)}
    for name, p in decoder_weights(model):
        if name not in expert and not is_router(name):
            yield name, p.detach()


def dense_forward_s(model, ids: torch.Tensor) -> float:
    times = []
    with torch.no_grad():
        for _ in range(3):
            t = time.perf_counter()
            model.model(input_ids=ids, use_cache=False)
            times.append(time.perf_counter() - t)
    return statistics.median(times)


def check(arch: str, layout: str, width: int, ids: torch.Tensor) -> dict:
    ref = build(arch, layout, width)
    h0, n_routers = router_hash(ref)
    row: dict = {"arch": arch, "layout": layout, "covered": covered(ref), "routers": n_routers,
                 "router_sha256": h0, "routers_unchanged": 0, "runs": 0}
    top_k = int(ref.config.num_experts_per_tok)
    for method, pattern in PRUNES:
        model = build(arch, layout, width)
        base = dense_forward_s(model, ids) if pattern == "unstructured" else None
        t = time.perf_counter()
        rep = prune_model(model, ids, PruneConfig(method=method, pattern=pattern, sparsity=0.5), progress=False)
        secs = time.perf_counter() - t
        key = f"{method} {pattern}"
        row[key] = weight_sparsity(model)
        row[f"{key} backend"] = measure_sparsity(model)["decoder"]
        row["runs"] += 1
        row["routers_unchanged"] += router_hash(model)[0] == h0
        if base is not None:
            row[f"{method} ratio"] = secs / base
        if key == "wanda unstructured":
            per_layer: dict[int, list[int]] = {}
            for x in rep.experts:
                per_layer.setdefault(x["layer"], []).append(x["tokens_routed"])
            row["tokens_min"] = min(min(v) for v in per_layer.values())
            row["tokens_max"] = max(max(v) for v in per_layer.values())
            row["tokens_sum_ok"] = all(sum(v) == ids.numel() * top_k for v in per_layer.values())
            row["tokens_routed"] = per_layer
    model = build(arch, layout, width)
    dense = dict(expert_matrices(model))
    dense = {n: w.clone() for n, w in dense.items()}
    dense_levels = max(max_group_values(w) for w in dense.values())
    quantize_model(model, ids, QuantConfig(method="gptq", bits=4, group_size=128), progress=False)
    row["runs"] += 1
    row["routers_unchanged"] += router_hash(model)[0] == h0
    levels = 0
    ok: dict[tuple[str, int], bool] = {}  # (experts module, expert) -> every matrix of it quantized
    for name, w in expert_matrices(model):
        levels = max(levels, max_group_values(w))
        for e in range(w.shape[0]):
            # a matrix is quantized when it changed and every group row holds at most 16 values
            good = not torch.equal(w[e], dense[name][e]) and max_group_values(w[e:e + 1]) <= 16
            key = expert_key(name, e)
            ok[key] = ok.get(key, True) and good
    row.update(gptq_experts_quantized=sum(ok.values()), gptq_experts=len(ok), gptq_expert_levels=levels,
               dense_expert_levels=dense_levels,
               gptq_other_levels=max(max_group_values(w[None]) for _, w in other_matrices(model)))
    return row


def fmt(rows: list[dict], nsamples: int, seqlen: int, width: int) -> str:
    head = ["arch", "layout", "covered", "wanda 50%", "sparsegpt 50%", "wanda 2:4", "sparsegpt 2:4",
            "routers (sha256, unchanged)", "GPTQ W4 g128: experts with every matrix quantized", "max values/group row (experts, other)",
            "tokens/expert min-max, sum=T*k", "prune/dense fwd (wanda, sgpt)"]
    out = [f"{nsamples} x {seqlen} random tokens, width {width}, top-2 of 8 experts; sparsity over every 2-D/3-D "
           "decoder weight, routers included, biases not (ok = within 0.005 of 0.5)", "",
           "| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for r in rows:
        sp = [f"{r[f'{m} {p}']:.4f} {'ok' if abs(r[f'{m} {p}'] - 0.5) <= 0.005 else 'OFF'}" for m, p in PRUNES]
        out.append("| " + " | ".join([
            r["arch"], r["layout"], f"{r['covered']:.3f}", *sp,
            f"{r['routers']} params {r['router_sha256'][:12]}, {r['routers_unchanged']}/{r['runs']}",
            f"{r['gptq_experts_quantized']}/{r['gptq_experts']}",
            f"{r['gptq_expert_levels']}, {r['gptq_other_levels']} (dense {r['dense_expert_levels']})",
            f"{r['tokens_min']}-{r['tokens_max']}, {'yes' if r['tokens_sum_ok'] else 'NO'}",
            f"{r['wanda ratio']:.1f}x, {r['sparsegpt ratio']:.1f}x",
        ]) + " |")
    same = all(r[f"{m} {p}"] == r[f"{m} {p} backend"] for r in rows for m, p in PRUNES)
    out += ["", f"prune_backend's measure_sparsity()['decoder'] equals the count above in every run: {'yes' if same else 'NO'}"]
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--arch", action="append", choices=tiny.ARCHS, help="repeatable; default: all six")
    ap.add_argument("--width", type=int, default=256, help="hidden and expert width (multiple of 32)")
    ap.add_argument("--nsamples", type=int, default=8)
    ap.add_argument("--seqlen", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", type=Path, help="also write every measured number here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    ids = torch.randint(3, 128, (args.nsamples, args.seqlen), generator=torch.Generator().manual_seed(0))
    rows = []
    for arch in args.arch or tiny.ARCHS:
        for layout in ("fused", "unfused"):
            if layout == "unfused" and arch == "gpt_oss":
                continue  # transformers stores gpt-oss's experts fused only (transposed, interleaved, biased)
            t = time.perf_counter()
            rows.append(check(arch, layout, args.width, ids))
            print(f"  {arch} {layout}: {time.perf_counter() - t:.1f} s", file=sys.stderr, flush=True)
    print(fmt(rows, args.nsamples, args.seqlen, args.width))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2, default=str))


if __name__ == "__main__":
    main()
