"""The local catalogue: list set versions, show one, diff two.

    curate list out
    curate show out/default/v1.0.0
    curate diff out/default/v1.0.0 out/wiki-windows/v1.0.0

    from curate.sets.catalog import diff_sets
    d = diff_sets("out/default/v1.0.0", "out/default/v2.0.0")
    d["overlap"]["rows_shared"], d["recipe"]["changed"]

Everything reads ``manifest.json`` except the sample overlap, which reads the two parquet shards
with polars and joins them on a hash of ``input_ids`` (identical token windows) and on ``doc_id``
(the same source document, possibly a different window of it). Every version read is first
checked against its manifest's fingerprint (:mod:`curate.sets.fingerprint`, cached), so a manifest
never speaks for rows it does not describe; ``curate verify`` runs that check explicitly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from curate.errors import CurateError
from curate.sets.fingerprint import verify_version
from curate.sets.layout import (
    MANIFEST,
    PARQUET,
    DamagedSetError,
    is_version_dir,
    list_versions,
    read_manifest_file,
)
from curate.sets.read import resolve_set_path

_MISSING = "<absent>"


# --------------------------------------------------------------------------- reading


def read_manifest(spec: str | Path, *, verify: bool = True) -> tuple[Path, dict[str, Any]]:
    """(version folder, manifest) of a set, its rows checked against the manifest's fingerprint."""
    path = resolve_set_path(spec)
    if not is_version_dir(path):
        raise CurateError(f"{path} is not a curate set version", hint="pass out/<name>/<version> or out/<name>")
    m = read_manifest_file(path / MANIFEST)
    if verify:
        verify_version(path, manifest=m)
    return path, m


def extras_names(path: Path) -> list[str]:
    folder = path / "extras"
    return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []


def list_sets(root: str | Path = "out", damaged: list[dict[str, str]] | None = None) -> list[dict[str, Any]]:
    """One summary row per complete, verified version under ``root`` (``root/<name>/<version>/``),
    oldest first. Versions that fail verification are left out and, when ``damaged`` is a list,
    appended to it as ``{"path", "error"}``."""
    root = Path(root)
    if not root.is_dir():
        raise CurateError(f"{root} is not a folder", hint="pass the --out folder of 'curate build' (default: out)")
    rows = []
    for m in list_versions(root):
        path = Path(m["path"])
        try:
            if "error" in m:
                raise DamagedSetError(m["error"])
            verify_version(path, manifest={k: v for k, v in m.items() if k != "path"})  # "path" is ours
        except CurateError as exc:
            if damaged is not None:
                damaged.append({"path": str(path), "error": exc.one_line()})
            continue
        rows.append({
            "name": m.get("name"), "version": m.get("version"),
            "fingerprint": (m.get("fingerprint") or "")[:12],
            "samples": m.get("n_samples"), "seq_len": m.get("seq_len"),
            "strategy": (m.get("strategy") or {}).get("name"),
            "model": (m.get("model") or {}).get("name"),
            "created_at": m.get("created_at"), "extras": ",".join(extras_names(path)), "path": str(path),
        })
    return sorted(rows, key=lambda r: (r["name"] or "", r["created_at"] or "", r["version"] or ""))


def verify_sets(spec: str | Path, *, use_cache: bool = True) -> list[dict[str, Any]]:
    """Verify one version, every version of a name (``out/<name>``) or of a folder (``out``):
    ``[{"path", "ok", "fingerprint" | "error"}]``."""
    p = Path(spec).expanduser()
    if not p.exists():
        raise CurateError(f"{p} does not exist", hint="pass a set version, out/<name> or the --out folder")
    if is_version_dir(p):
        dirs = [p]
    elif p.is_dir():
        dirs = sorted(d for d in p.iterdir() if d.is_dir() and is_version_dir(d)) or \
            sorted(Path(m["path"]) for m in list_versions(p))
    else:
        dirs = []
    if not dirs:
        raise CurateError(f"{p} holds no set versions", hint="pass a folder written by 'curate build'")
    out = []
    for d in dirs:
        try:
            out.append({"path": str(d), "ok": True, "fingerprint": verify_version(d, use_cache=use_cache)})
        except CurateError as exc:
            out.append({"path": str(d), "ok": False, "error": exc.one_line()})
    return out


def show_set(spec: str | Path) -> dict[str, Any]:
    """The manifest of one version plus where it is and which extras it carries."""
    from curate.moe.coverage_io import read_coverage

    path, m = read_manifest(spec)
    cov = read_coverage(path)
    return {**m, "path": str(path), "extras": extras_names(path),
            **({"expert_coverage": {k: cov.get(k) for k in ("model", "tokens", "min_tokens", "moe_layers", "experts",
                                                             "entropy_mean", "entropy_min", "experts_under_min",
                                                             "experts_unreached", "max_over_min_worst")}}
               if cov else {})}


# --------------------------------------------------------------------------- diff


def _flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted keys for nested dicts; lists of dicts are indexed (``sources.0.name``)."""
    if isinstance(obj, dict):
        out: dict[str, Any] = {}
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out if out or not prefix else {prefix[:-1]: {}}
    if isinstance(obj, list) and obj and all(isinstance(x, dict) for x in obj):
        out = {}
        for i, v in enumerate(obj):
            out.update(_flatten(v, f"{prefix}{i}."))
        return out
    return {prefix[:-1]: obj}


def recipe_diff(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    fa, fb = _flatten(a or {}), _flatten(b or {})
    return {
        "changed": {k: [fa[k], fb[k]] for k in sorted(fa.keys() & fb.keys()) if fa[k] != fb[k]},
        "only_a": {k: fa[k] for k in sorted(fa.keys() - fb.keys())},
        "only_b": {k: fb[k] for k in sorted(fb.keys() - fa.keys())},
    }


def _counts(m: dict[str, Any]) -> dict[str, Any]:
    return {
        "n_samples": m.get("n_samples"), "seq_len": m.get("seq_len"),
        "sources": {s["name"]: s.get("count") for s in m.get("sources") or []},
        "steps": {s["name"]: {"kept": s.get("kept"), "dropped": s.get("dropped")} for s in m.get("steps") or []},
    }


def _score_diff(a: dict[str, Any], b: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out = {}
    for key in sorted(set(a) | set(b)):
        ma, mb = (a.get(key) or {}).get("mean"), (b.get(key) or {}).get("mean")
        delta = mb - ma if isinstance(ma, int | float) and isinstance(mb, int | float) else None
        out[key] = {"mean_a": ma, "mean_b": mb, "delta": delta,
                    "std_a": (a.get(key) or {}).get("std"), "std_b": (b.get(key) or {}).get("std")}
    return out


def sample_overlap(path_a: Path, path_b: Path) -> dict[str, Any]:
    """Rows with identical ``input_ids`` and rows whose ``doc_id`` is shared, via polars joins."""
    import polars as pl

    def frame(path: Path) -> pl.DataFrame:
        f = path / PARQUET
        if not f.exists():
            raise CurateError(f"{f} is missing", hint="rebuild the set with 'curate build'")
        cols = pl.read_parquet_schema(f)
        keep: list[str] = [c for c in ("input_ids", "doc_id", "text") if c in cols]
        df = pl.read_parquet(f, columns=keep)
        if "input_ids" in df.columns:
            df = df.with_columns(pl.col("input_ids").hash().alias("_ids_hash"))
        else:  # text-only sets: identical text stands in for identical tokens
            df = df.with_columns(pl.col("text").hash().alias("_ids_hash"))
        return df

    a, b = frame(path_a), frame(path_b)
    # Semi-join on the 64-bit content hash: A's rows whose token window also occurs in B.
    shared = a.join(b.select("_ids_hash").unique(), on="_ids_hash", how="semi").height
    docs_a = set(a["doc_id"].to_list()) if "doc_id" in a.columns else set()
    docs_b = set(b["doc_id"].to_list()) if "doc_id" in b.columns else set()
    rows_a, rows_b = len(a), len(b)
    uniq_a, uniq_b = a["_ids_hash"].n_unique(), b["_ids_hash"].n_unique()
    inter = len(set(a["_ids_hash"].to_list()) & set(b["_ids_hash"].to_list()))
    return {
        "rows_a": rows_a, "rows_b": rows_b,
        "rows_shared": shared,  # rows of A whose token window also appears in B
        "rows_jaccard": inter / (uniq_a + uniq_b - inter) if (uniq_a + uniq_b - inter) else 1.0,
        "docs_a": len(docs_a), "docs_b": len(docs_b), "docs_shared": len(docs_a & docs_b),
        "docs_jaccard": len(docs_a & docs_b) / len(docs_a | docs_b) if docs_a | docs_b else 1.0,
    }


def diff_sets(spec_a: str | Path, spec_b: str | Path) -> dict[str, Any]:
    """Recipe diff, counts, score summaries and sample overlap of two versions."""
    pa, ma = read_manifest(spec_a)
    pb, mb = read_manifest(spec_b)
    return {
        "a": {"name": ma.get("name"), "version": ma.get("version"), "path": str(pa), "fingerprint": ma.get("fingerprint")},
        "b": {"name": mb.get("name"), "version": mb.get("version"), "path": str(pb), "fingerprint": mb.get("fingerprint")},
        "same_content": ma.get("fingerprint") == mb.get("fingerprint"),
        "recipe": recipe_diff(ma.get("recipe") or {}, mb.get("recipe") or {}),
        "model": {"a": (ma.get("model") or {}).get("name"), "b": (mb.get("model") or {}).get("name"),
                  "same_tokenizer": (ma.get("model") or {}).get("tokenizer") == (mb.get("model") or {}).get("tokenizer")},
        "counts": {"a": _counts(ma), "b": _counts(mb)},
        "scores": _score_diff(ma.get("score_summary") or {}, mb.get("score_summary") or {}),
        "overlap": sample_overlap(pa, pb),
    }


# --------------------------------------------------------------------------- text output


def _v(x: Any) -> str:
    if isinstance(x, float):
        return f"{x:.4g}"
    if x is None:
        return "-"
    return json.dumps(x) if isinstance(x, dict | list) else str(x)


def format_table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    cells = [[_v(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) if cells else len(c) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines += ["  ".join(x.ljust(w) for x, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)


def format_show(s: dict[str, Any]) -> str:
    model, strategy = s.get("model") or {}, s.get("strategy") or {}
    lines = [
        f"{s.get('name')} {s.get('version')}   {s['path']}",
        f"  fingerprint  {s.get('fingerprint')}",
        f"  recipe       {s.get('recipe_file') or '-'} (hash {s.get('recipe_hash') or '-'}), seed {s.get('seed')}",
        f"  samples      {s.get('n_samples')} x {s.get('seq_len')} tokens",
        f"  model        {model.get('name')} (tokenizer {model.get('tokenizer') or '-'})",
        f"  strategy     {strategy.get('name') or '-'}" + (f" - {strategy['paper']}" if strategy.get("paper") else ""),
        f"  created      {s.get('created_at') or '-'} by curate {s.get('curate_version') or '-'}",
        "  sources      " + (", ".join(f"{x['name']}={x.get('count')} ({x.get('license') or '?'})"
                                     for x in s.get("sources") or []) or "-"),
        "  steps",
    ]
    for st in s.get("steps") or []:
        reasons = ", ".join(f"{k}={v}" for k, v in (st.get("reasons") or {}).items())
        lines.append(f"    {st.get('name', '?'):<28} {st.get('kind', ''):<10} kept {st.get('kept')}/{st.get('seen')}"
                     + (f"  dropped: {reasons}" if reasons else ""))
    for k, v in (s.get("score_summary") or {}).items():
        lines.append(f"  score {k:<10} " + "  ".join(f"{sk} {_v(sv)}" for sk, sv in v.items()))
    if s.get("expert_coverage"):
        from curate.moe.coverage_io import summary_line

        lines.append(f"  experts      {summary_line(s['expert_coverage'])}")
    lines.append(f"  extras       {', '.join(s.get('extras') or []) or '-'}")
    return "\n".join(lines)


def format_diff(d: dict[str, Any]) -> str:
    a, b = d["a"], d["b"]
    lines = [f"A = {a['name']} {a['version']} ({a['path']}, {str(a['fingerprint'])[:12]})",
             f"B = {b['name']} {b['version']} ({b['path']}, {str(b['fingerprint'])[:12]})",
             "same content (fingerprints equal)" if d["same_content"] else "different content"]
    r = d["recipe"]
    lines.append("recipe:" + ("" if any(r.values()) else " identical"))
    for k, (va, vb) in r["changed"].items():
        lines.append(f"  ~ {k}: {_v(va)} -> {_v(vb)}")
    lines += [f"  - {k}: {_v(v)}" for k, v in r["only_a"].items()]
    lines += [f"  + {k}: {_v(v)}" for k, v in r["only_b"].items()]
    m = d["model"]
    lines.append(f"model: {m['a']} vs {m['b']}" + ("" if m["same_tokenizer"] else "  (different tokenizers)"))
    ca, cb = d["counts"]["a"], d["counts"]["b"]
    lines.append(f"counts: {ca['n_samples']} x {ca['seq_len']} vs {cb['n_samples']} x {cb['seq_len']}")
    for src in sorted(set(ca["sources"]) | set(cb["sources"])):
        lines.append(f"  source {src:<20} {_v(ca['sources'].get(src))} vs {_v(cb['sources'].get(src))}")
    for st in list(dict.fromkeys([*ca["steps"], *cb["steps"]])):
        sa, sb = ca["steps"].get(st) or {}, cb["steps"].get(st) or {}
        lines.append(f"  step   {st:<20} kept {_v(sa.get('kept'))} vs {_v(sb.get('kept'))}, "
                     f"dropped {_v(sa.get('dropped'))} vs {_v(sb.get('dropped'))}")
    if d["scores"]:
        lines.append("scores (mean A -> B, delta):")
        for k, v in d["scores"].items():
            lines.append(f"  {k:<12} {_v(v['mean_a'])} -> {_v(v['mean_b'])}  ({_v(v['delta'])})")
    o = d["overlap"]
    lines.append(f"overlap: {o['rows_shared']}/{o['rows_a']} rows of A appear in B (row Jaccard {o['rows_jaccard']:.3f}); "
                 f"{o['docs_shared']} shared documents (doc Jaccard {o['docs_jaccard']:.3f})")
    return "\n".join(lines)
