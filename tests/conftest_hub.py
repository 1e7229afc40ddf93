"""Test helpers shared by test_cards, test_catalog and test_publish (not a conftest: imported).

    from conftest_hub import make_version, sample_manifest
    vdir = make_version(tmp_path / "out", "default", "v1.0.0", rows=make_rows(8, 16, seed=0))

``make_version`` writes a set version folder in the format of ``curate/sets/write.py``
(``save_to_disk`` files + ``data/train-00000-of-00001.parquet`` + ``manifest.json`` +
``README.md``), so the catalogue and publishing tests do not need a model or a build.
"""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

BIBTEX = """@article{ji2024beware,
  title={Beware of Calibration Data for Pruning Large Language Models},
  author={Ji, Yixin and Xiang, Yang and Li, Juntao and Xia, Qingrong and Ye, Zi and Duan, Xinyu and Wang, Zhefeng and Chen, Kehai and Zhang, Min},
  journal={arXiv preprint arXiv:2410.17711},
  year={2024}
}"""

BASE_MANIFEST: dict[str, Any] = {
    "name": "default", "version": "v1.0.0", "fingerprint": "0" * 64,
    "created_at": "2026-11-27T03:00:00Z", "curate_version": "0.1.0",
    "recipe": {"name": "default", "strategy": {"name": "self-generation", "temperature": 1.0},
               "sources": [{"name": "wikipedia", "weight": 0.75}, {"name": "shakespeare", "weight": 0.25}],
               "n_samples": 8, "seq_len": 16,
               "steps": [{"filter": "ppl", "drop_top": 0.2}]},
    "recipe_hash": "0123456789abcdef", "recipe_file": "recipes/default.yaml",
    "seed": 0, "n_samples": 8, "seq_len": 16,
    "model": {"name": "smollm2-135m", "source": "bundled", "path": "/cache/smollm2", "revision": None,
              "sha": "deadbeef", "tokenizer": "fedcba9876543210"},
    "sources": [
        {"name": "wikipedia", "domain": "encyclopedic", "license": "cc-by-sa-3.0",
         "hub_id": "wikimedia/wikipedia", "description": "Wikipedia lead summaries", "count": 6},
        {"name": "shakespeare", "domain": "literature", "license": "public-domain", "hub_id": None,
         "description": "Complete works (Gutenberg)", "count": 2},
    ],
    "strategy": {"name": "self-generation",
                 "paper": "Ji et al. 2024, Beware of Calibration Data for Pruning Large Language Models",
                 "url": "https://arxiv.org/abs/2410.17711", "bibtex": BIBTEX},
    "steps": [
        {"name": "sample", "kind": "sampler", "seen": 12, "kept": 10, "dropped": 2, "reasons": {"too_short": 2}, "seconds": 0.1},
        {"name": "generate", "kind": "generator", "seen": 10, "kept": 10, "dropped": 0, "reasons": {}, "seconds": 3.5},
        {"name": "ppl", "kind": "filter", "seen": 10, "kept": 8, "dropped": 2, "reasons": {"ppl_top_20pct": 2}, "seconds": 0.4},
    ],
    "score_summary": {"ppl": {"mean": 9.1, "std": 2.0, "min": 4.25, "max": 15.5}},
    "timings": {"total_s": 4.2},
}


def sample_manifest(**overrides: Any) -> dict[str, Any]:
    m = copy.deepcopy(BASE_MANIFEST)
    m.update(overrides)
    return m


def make_rows(n: int = 8, seq_len: int = 16, seed: int = 0) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        src = "wikipedia" if i % 4 else "shakespeare"
        ids = [rng.randrange(49152) for _ in range(seq_len)]
        rows.append({"text": f"{src} sample {i} seed {seed}: " + " ".join(map(str, ids[:4])),
                     "input_ids": ids, "source": src, "doc_id": f"{src}:{seed}:{i}",
                     "meta_offset": i * 3, "score_ppl": float(rng.uniform(4, 16))})
    return rows


def rows_fingerprint(rows: list[dict[str, Any]]) -> str:
    """The writer's content fingerprint, so that readers' verification accepts these versions."""
    from curate.sets.fingerprint import fingerprint_rows

    return fingerprint_rows(rows)


def make_version(out: Path, name: str = "default", version: str = "v1.0.0",
                 rows: list[dict[str, Any]] | None = None, **manifest_overrides: Any) -> Path:
    """Write ``out/name/version/`` the way curate's writer does; returns the folder."""
    import datasets

    from curate.sets.card import render_card

    rows = rows if rows is not None else make_rows()
    vdir = Path(out) / name / version
    ds = datasets.Dataset.from_list(rows)
    ds.save_to_disk(str(vdir))
    (vdir / "data").mkdir(parents=True, exist_ok=True)
    ds.to_parquet(str(vdir / "data" / "train-00000-of-00001.parquet"))
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["source"]] = counts.get(r["source"], 0) + 1
    m = sample_manifest(name=name, version=version, fingerprint=rows_fingerprint(rows),
                        n_samples=len(rows), seq_len=len(rows[0]["input_ids"]) if rows else 0)
    for s in m["sources"]:
        s["count"] = counts.get(s["name"], 0)
    m.update(manifest_overrides)
    (vdir / "manifest.json").write_text(json.dumps(m, indent=2))
    (vdir / "README.md").write_text(render_card(m))
    return vdir
