"""Cost of checking a set against its fingerprint when it is loaded (issue 11).

    PYTHONPATH=. python benchmarks/verify_speed.py [--n 128] [--seq-len 2048] [--repeat 15]

Writes a random N x L set (token ids below 49,152, text of ~4 characters per token) with the
real writer, then times ``load_set`` three ways, median of ``--repeat`` runs each:
without verification, with a cold verification (no cached verdict: both data copies are
streamed and hashed), and with the verdict cached on disk (the in-memory memo cleared before
every run, i.e. what a new process pays). Prints one line with the ratios; the goal is
cached / unverified <= 1.2.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=128)
    ap.add_argument("--seq-len", type=int, default=2048)
    ap.add_argument("--repeat", type=int, default=31)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="curate-verify-") as d:
        os.environ["CURATE_CACHE"] = str(Path(d) / "cache")
        import curate.sets.fingerprint as fpm
        from curate.records import Sample
        from curate.sets.read import load_set
        from curate.sets.write import write_version

        rng = random.Random(0)
        words = "the of and to in a is that for it as was with be by on not".split()
        samples = [Sample(text=" ".join(rng.choice(words) for _ in range(args.seq_len * 4 // 3)), source="bench",
                          doc_id=f"d{i}", input_ids=[rng.randrange(49152) for _ in range(args.seq_len)])
                   for i in range(args.n)]
        path, _ = write_version(samples, {"n_samples": args.n, "seq_len": args.seq_len}, d, "bench")
        size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())

        def clear(disk: bool) -> None:
            fpm._memo.clear()
            if disk:
                for f in (Path(d) / "cache" / "verified").glob("*.json"):
                    f.unlink()

        def once(verify: bool, disk_clear: bool) -> float:
            clear(disk_clear)
            t = time.perf_counter()
            cs = load_set(path, verify=verify)
            assert len(cs) == args.n
            return time.perf_counter() - t

        load_set(path, verify=False)  # warm imports and the page cache
        runs: dict[str, list[float]] = {"plain": [], "cold": [], "cached": []}
        for _ in range(args.repeat):
            runs["cold"].append(once(True, True))  # hashes both copies, leaves the verdict on disk
        # Unverified and cached runs interleaved in ABBA order, so that a busy machine (and
        # whatever the previous run left in the allocator) weighs on both alike.
        for i in range(args.repeat):
            for verify in ((False, True) if i % 2 == 0 else (True, False)):
                gc.collect()
                runs["cached" if verify else "plain"].append(once(verify, False))
        plain, cold, cached = (statistics.median(runs[k]) for k in ("plain", "cold", "cached"))
    print(f"load_set of a {args.n} x {args.seq_len} set ({size / 1e6:.1f} MB on disk), median of {args.repeat}: "
          f"unverified {plain * 1e3:.1f} ms, verified cold {cold * 1e3:.1f} ms ({cold / plain:.2f}x), "
          f"verified cached {cached * 1e3:.1f} ms ({cached / plain:.2f}x; goal <= 1.2x)")


if __name__ == "__main__":
    main()
