"""Speed of curate's scorers against the obvious ways, measured in one run.

    python benchmarks/score_speed.py                 # bundled SmolLM2-135M, 16 x 256 Wikipedia tokens
    python benchmarks/score_speed.py --n 32 --seq-len 512 --docs 4000
    python benchmarks/score_speed.py --tiny          # tiny random Llama (seconds; no model needed)

1. Model-based scores (ppl + Min-K% + Min-K%++ + entropy, one pass, chunked lm_head) versus a
   plain forward that returns the (B, T, V) logits, and versus the base model alone (no lm_head).
   Goal: scoring / plain forward <= 1.2.
2. MinHash signatures (word 3-grams, 128 permutations) per second: curate's vectorised hasher
   versus a naive per-document datasketch loop (``MinHash()`` + ``update`` per n-gram) and
   versus datasketch's own bulk path (``MinHash.bulk`` / ``update_batch``). Goal: >= 10x naive.
   Also the datatrove reference pipeline (reader -> signature step -> parquet writer).
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch


def _time_interleaved(fns: dict, repeat: int) -> dict[str, float]:
    """Fastest time of each function, calls interleaved round-robin so that a burst of load from
    another process hits every contender alike instead of one of them."""
    for fn in fns.values():
        fn()  # warm-up
    best = {name: float("inf") for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t0)
    return best


def bench_model(args) -> dict[str, float]:
    from curate.scoring import compute_model_scores

    if args.tiny:
        from transformers import LlamaConfig, LlamaForCausalLM

        torch.manual_seed(0)
        model = LlamaForCausalLM(LlamaConfig(vocab_size=4096, hidden_size=128, num_hidden_layers=4, num_attention_heads=4,
                                             num_key_value_heads=2, intermediate_size=256, max_position_embeddings=2048,
                                             tie_word_embeddings=True)).eval()
        ids = torch.randint(3, 4096, (args.n, args.seq_len), generator=torch.Generator().manual_seed(0))
        label = "tiny random Llama (V=4096)"
    else:
        from curate.models import load_model
        from curate.scoring.compare import source_samples

        model, tok, _ = load_model("smollm2-135m")
        ids = torch.tensor([s.input_ids for s in source_samples("wikipedia", tok, args.n, args.seq_len, seed=0)])
        label = "SmolLM2-135M-Instruct fp32 (V=49152), Wikipedia packed"
    bs = args.batch_size

    @torch.inference_mode()
    def plain_forward():
        for i in range(0, ids.shape[0], bs):
            _ = model(input_ids=ids[i:i + bs], use_cache=False).logits  # (B, T, V)

    @torch.inference_mode()
    def base_forward():
        for i in range(0, ids.shape[0], bs):
            _ = model.model(input_ids=ids[i:i + bs], use_cache=False).last_hidden_state  # (B, T, C)

    def scoring():
        compute_model_scores(model, ids, scores=("ppl", "min_k", "min_k_pp", "entropy"), k=0.5,
                             batch_size=bs, progress=False)

    def scoring_ppl():
        compute_model_scores(model, ids, scores=("ppl",), batch_size=bs, progress=False)

    t = _time_interleaved({"plain": plain_forward, "base": base_forward, "score": scoring, "ppl": scoring_ppl},
                          args.repeat)
    t_plain, t_base, t_score, t_ppl = t["plain"], t["base"], t["score"], t["ppl"]
    print(f"\n== model-based scoring: {label}, {ids.shape[0]} x {ids.shape[1]} tokens, batch {bs}, "
          f"{torch.get_num_threads()} threads, best of {args.repeat} interleaved")
    print(f"plain forward with (B,T,V) logits : {t_plain:8.3f} s")
    print(f"base model only (no lm_head)      : {t_base:8.3f} s")
    print(f"scoring, 4 scores, one pass       : {t_score:8.3f} s   ratio vs plain forward {t_score / t_plain:.3f}x "
          f"(goal <= 1.2x), vs base only {t_score / t_base:.3f}x")
    print(f"scoring, ppl only                 : {t_ppl:8.3f} s   ratio vs plain forward {t_ppl / t_plain:.3f}x")
    return {"plain": t_plain, "base": t_base, "score": t_score, "ppl": t_ppl}


def bench_minhash(args) -> dict[str, float]:
    from datasketch import MinHash

    from curate.scoring.functional import ngrams, words
    from curate.scoring.minhash import MinHasher, ReferenceIndex
    from curate.sources import iter_source

    texts = [s.text for s in iter_source("wikipedia", split="all")][: args.docs]
    n_words = sum(len(words(t)) for t in texts)
    P = 128

    def naive():  # what most scripts do: one MinHash per document, one update per shingle
        out = []
        for t in texts:
            m = MinHash(num_perm=P)
            for g in ngrams(words(t), 3):
                m.update(" ".join(g).encode("utf-8"))
            out.append(m)
        return out

    def bulk():  # datasketch's own batched path
        return MinHash.bulk(([" ".join(g).encode("utf-8") for g in ngrams(words(t), 3)] for t in texts), num_perm=P)

    hasher = MinHasher(n=3, num_perm=P)

    def ours():
        return hasher.signatures(texts)

    t = _time_interleaved({"naive": naive, "bulk": bulk, "ours": ours}, args.repeat)
    t_naive, t_bulk, t_ours = t["naive"], t["bulk"], t["ours"]
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        ReferenceIndex.build(texts, hasher, cache_root=d)
        t_pipe = time.perf_counter() - t0
    D = len(texts)
    print(f"\n== MinHash signatures: {D} Wikipedia summaries ({n_words / D:.0f} words each), word 3-grams, {P} permutations")
    print(f"naive datasketch loop (update per n-gram): {D / t_naive:10.0f} docs/s")
    print(f"datasketch MinHash.bulk (update_batch)   : {D / t_bulk:10.0f} docs/s   {t_naive / t_bulk:.1f}x naive")
    print(f"curate MinHasher (vectorised numpy)      : {D / t_ours:10.0f} docs/s   {t_naive / t_ours:.1f}x naive "
          f"(goal >= 10x), {t_bulk / t_ours:.1f}x datasketch bulk")
    print(f"datatrove pipeline incl. parquet + n-gram set: {D / t_pipe:6.0f} docs/s (one local task)")
    return {"naive": t_naive, "bulk": t_bulk, "ours": t_ours, "pipeline": t_pipe}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=16, help="sequences for the model benchmark")
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--docs", type=int, default=2000, help="documents for the MinHash benchmark")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--tiny", action="store_true", help="tiny random model instead of the bundled one")
    ap.add_argument("--skip-model", action="store_true")
    ap.add_argument("--skip-minhash", action="store_true")
    args = ap.parse_args()
    if not args.skip_model:
        bench_model(args)
    if not args.skip_minhash:
        bench_minhash(args)


if __name__ == "__main__":
    main()
