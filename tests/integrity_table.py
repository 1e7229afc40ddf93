"""Print issue 11's table of (command, damage) -> (exit code, first line printed, files left).

    PYTHONPATH=. python tests/integrity_table.py > /tmp/table.md

It lives beside the cases it prints (``python tests/...`` puts tests/ first on the path, so no
script reaches into another folder's modules). Runs every case of ``tests/integrity_cases.py`` (the same cases ``tests/test_integrity.py``
asserts) in a throwaway workspace and prints one markdown row per case, then a summary line.
Cases that mount a tmpfs are skipped without root.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    import huggingface_hub
    from integrity_cases import CASES, can_mount, make_base, markdown, run_case

    huggingface_hub.get_token = lambda: None  # publish cases must not find a real token
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="curate-integrity-") as d:
        os.environ["CURATE_CACHE"] = str(Path(d) / "cache")
        base = make_base(Path(d) / "base")
        mount = can_mount()
        rows = []
        for case in CASES:
            if case.mount and not mount:
                continue
            rows.append((case, run_case(case, base, Path(d) / "work")))
    print(markdown(rows))
    bad = [c.id for c, r in rows if r.traceback or r.code != c.code or (c.code and r.left)]
    refusals = sum(1 for c, r in rows if r.code != 0)
    print(f"\n{len(rows)} cases ({sum(c.new for c, _ in rows)} new kinds), {refusals} refused with one line, "
          f"{len(rows) - refusals} succeed as they should; tracebacks or mismatches: {bad or 'none'}; "
          f"{time.perf_counter() - t0:.0f} s")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
