"""Derive a mixture-of-experts from a dense Llama by MoEfication, saved as a standard Mixtral.

    python -m curate.moe.derive --experts 8 --top-k 2 --out runs/smollm2-moe   # + the check below
    curate score out/default --model smollm2-135m-moe --scores expert_coverage --out runs/cov

    from curate.moe.derive import derive_moe
    moe = derive_moe(dense, fit_ids, experts=8, top_k=2)     # MixtralForCausalLM, same tokenizer

Random MoE weights route arbitrarily, so coverage measured on them means nothing. MoEfication
(Zhang et al., Findings of ACL 2022, "MoEfication: Transformer Feed-forward Layers are Mixtures
of Experts") turns a dense FFN into experts whose routing follows the text:

1. **Split** each layer's I intermediate neurons into E experts of I / E neurons by
   co-activation: neuron i is described by |h_i| over T fitting tokens (h = silu(gate x) * up x,
   the SwiGLU activation; (I, T), unit-normalised rows), and a *balanced* k-means groups the
   neurons that fire together (:func:`balanced_kmeans`: Lloyd iterations whose assignment step
   fills E clusters of equal capacity, most decided neurons first).
2. **Route** with a linear router fitted on the same tokens (:func:`fit_router`): ridge
   regression from the MLP input x (T, H) to each expert's share of the token's activation mass
   sum_{i in e} |h_ti|; the top-k predicted experts are the ones that hold the most activation.
3. **Write Mixtral**: attention, norms and embeddings copied; expert e's fused
   ``gate_up_proj`` (2 I/E, H) and ``down_proj`` (H, I/E) are the rows / columns of its neurons.

Mixtral weights an expert's output by its renormalised softmax probability over the chosen
k. MoEfication keeps a chosen expert at weight 1, so the router logits are scaled down to a
range of ``router_scale`` (1e-5: the renormalised weights are 1/k within ~1e-5 relative and
still rank the experts: fp32 resolves logit gaps of ~1e-7, 0.5 % of that range) and every ``down_proj`` is multiplied by k. With
top-k = E every neuron is used and the model reproduces the dense logits up to that weight
error (:func:`check`); with top-k < E it is a sparse approximation whose held-out perplexity is
reported beside the dense one. The figures are written into the folder (``curate_source.json``).
The weights are fp32; in bf16 the small logits lose their order (use fp32 for routing work).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from curate.errors import CurateError
from curate.models import DERIVE_VERSION

FIT_SOURCES = ("wikipedia", "python-stdlib", "shakespeare", "chat")


# --------------------------------------------------------------------------------------------
# pure math
# --------------------------------------------------------------------------------------------


def balanced_assign(sim: np.ndarray, capacity: int) -> np.ndarray:
    """Assign each of N rows of ``sim`` (N, E) to a cluster, at most ``capacity`` per cluster:
    rows with the largest margin between their best and second-best cluster choose first, each
    taking its most similar cluster that still has room. Returns (N,) cluster ids."""
    n, e = sim.shape
    if capacity * e < n:
        raise ValueError(f"{e} clusters of {capacity} cannot hold {n} rows")
    part = np.sort(sim, axis=1)
    margin = part[:, -1] - part[:, -2] if e > 1 else part[:, -1]
    order = np.lexsort((np.arange(n), -margin))  # largest margin first; ties by index
    left = np.full(e, capacity)
    out = np.empty(n, dtype=np.int64)
    for i in order:
        for c in np.argsort(-sim[i], kind="stable"):
            if left[c]:
                out[i], left[c] = c, left[c] - 1
                break
    return out


def balanced_kmeans(x: np.ndarray, k: int, *, iters: int = 15, seed: int = 0) -> np.ndarray:
    """Cosine k-means of the rows of ``x`` (N, D) into ``k`` clusters of exactly N / k rows.

    Initial centroids: k-means++ seeding (scikit-learn); each iteration assigns by
    :func:`balanced_assign` and recomputes the unit centroids; stops when no row moves."""
    from sklearn.cluster import kmeans_plusplus

    n = len(x)
    if n % k:
        raise ValueError(f"{n} neurons do not split into {k} equal experts")
    xn = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    centers, _ = kmeans_plusplus(xn, k, random_state=seed)
    labels = np.full(n, -1)
    for _ in range(iters):
        centers = centers / np.maximum(np.linalg.norm(centers, axis=1, keepdims=True), 1e-12)
        new = balanced_assign(xn @ centers.T, n // k)  # (N, k) cosine similarity
        if np.array_equal(new, labels):
            break
        labels = new
        centers = np.stack([xn[labels == c].mean(0) for c in range(k)])
    return labels


def expert_mass(h: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """(T, I) activations and (I,) expert ids -> (T, E) share of each token's |h| mass per expert."""
    a = np.abs(h)
    m = np.stack([a[:, labels == c].sum(1) for c in range(k)], axis=1)  # (T, E)
    return m / np.maximum(m.sum(1, keepdims=True), 1e-12)


def fit_router(x: np.ndarray, target: np.ndarray, *, ridge: float = 1e-2) -> np.ndarray:
    """Ridge regression W (E, H) with x (T, H) @ W.T ~ target (T, E); ridge relative to the
    mean diagonal of x^T x, so the penalty is independent of the activations' scale."""
    xtx = x.T @ x  # (H, H)
    lam = ridge * float(np.trace(xtx)) / len(xtx)
    w = np.linalg.solve(xtx + lam * np.eye(len(xtx)), x.T @ target)  # (H, E)
    return w.T


def top_k_recall(logits: np.ndarray, target: np.ndarray, k: int) -> float:
    """Share of the target's top-k experts that the router's top-k contains (1 = perfect)."""
    pred = np.argsort(-logits, axis=1)[:, :k]
    true = np.argsort(-target, axis=1)[:, :k]
    return float(np.mean([len(set(p) & set(t)) / k for p, t in zip(pred, true, strict=True)]))


# --------------------------------------------------------------------------------------------
# plumbing
# --------------------------------------------------------------------------------------------


def _capture(dense, ids, batch_size: int = 8):
    """Per decoder layer: MLP inputs x (T, H) and SwiGLU activations h (T, I) over ``ids`` (N, L)."""
    import torch

    layers = dense.model.layers
    xs: list[list[Any]] = [[] for _ in layers]
    hs: list[list[Any]] = [[] for _ in layers]
    handles = []
    for i, layer in enumerate(layers):
        handles.append(layer.mlp.register_forward_pre_hook(
            lambda _m, a, i=i: xs[i].append(a[0].reshape(-1, a[0].shape[-1]).float().cpu())))
        handles.append(layer.mlp.down_proj.register_forward_pre_hook(
            lambda _m, a, i=i: hs[i].append(a[0].reshape(-1, a[0].shape[-1]).float().cpu())))
    try:
        with torch.no_grad():
            for s in range(0, len(ids), batch_size):
                dense.model(input_ids=ids[s:s + batch_size], use_cache=False)
    finally:
        for h in handles:
            h.remove()
    return [torch.cat(x).numpy() for x in xs], [torch.cat(h).numpy() for h in hs]


def mixtral_config(dense_cfg, experts: int, top_k: int):
    from transformers import MixtralConfig

    if dense_cfg.model_type not in ("llama", "mistral"):
        raise CurateError(f"MoEfication needs a Llama-style dense model, got model_type '{dense_cfg.model_type}'")
    if getattr(dense_cfg, "mlp_bias", False) or getattr(dense_cfg, "attention_bias", False):
        raise CurateError("MoEfication into Mixtral needs a model without MLP/attention biases (Mixtral has none)")
    if dense_cfg.intermediate_size % experts:
        raise CurateError(f"--experts {experts} does not divide intermediate_size {dense_cfg.intermediate_size}")
    if not 1 <= top_k <= experts:
        raise CurateError(f"--top-k {top_k} must be between 1 and --experts {experts}")
    return MixtralConfig(
        vocab_size=dense_cfg.vocab_size, hidden_size=dense_cfg.hidden_size,
        intermediate_size=dense_cfg.intermediate_size // experts, num_hidden_layers=dense_cfg.num_hidden_layers,
        num_attention_heads=dense_cfg.num_attention_heads, num_key_value_heads=dense_cfg.num_key_value_heads,
        head_dim=getattr(dense_cfg, "head_dim", None) or dense_cfg.hidden_size // dense_cfg.num_attention_heads,
        hidden_act=dense_cfg.hidden_act, max_position_embeddings=dense_cfg.max_position_embeddings,
        rms_norm_eps=dense_cfg.rms_norm_eps, rope_parameters=dict(dense_cfg.rope_parameters),
        tie_word_embeddings=dense_cfg.tie_word_embeddings, bos_token_id=dense_cfg.bos_token_id,
        eos_token_id=dense_cfg.eos_token_id, pad_token_id=dense_cfg.pad_token_id, sliding_window=None,
        num_local_experts=experts, num_experts_per_tok=top_k, router_jitter_noise=0.0, output_router_logits=False)


def fit_moefication(dense, fit_ids, *, experts: int, seed: int = 0, batch_size: int = 8,
                    log=lambda _m: None) -> dict[str, Any]:
    """Cluster every layer's neurons and fit its router on ``fit_ids`` (N, L): a plan that
    :func:`build_mixtral` turns into a model of any top-k. Plan: labels (layers, I), routers
    (layers, E, H) unscaled, their largest |logit| on the fitting tokens (peaks), and per-layer
    router top-2 recall on the fitting tokens."""
    xs, hs = _capture(dense, fit_ids, batch_size)
    labels, routers, recall, peaks = [], [], [], []
    for i, (x, h) in enumerate(zip(xs, hs, strict=True)):
        lab = balanced_kmeans(np.abs(h).T, experts, seed=seed + i)  # neurons described over tokens
        target = expert_mass(h, lab, experts)  # (T, E)
        w = fit_router(x.astype(np.float64), target.astype(np.float64))  # (E, H)
        labels.append(lab)
        routers.append(w)
        z = x.astype(np.float64) @ w.T  # (T, E) unscaled router logits
        peaks.append(float(np.abs(z).max()))
        recall.append(round(top_k_recall(z, target, min(2, experts)), 4))
        log(f"layer {i}: router top-2 recall {recall[-1]:.3f} on the fitting tokens")
    return {"labels": np.stack(labels), "routers": np.stack(routers), "peaks": peaks, "recall": recall,
            "experts": experts, "tokens": int(xs[0].shape[0])}


def build_mixtral(dense, plan: dict[str, Any], *, top_k: int, router_scale: float = 1e-5):
    """A MixtralForCausalLM holding ``dense``'s weights split by ``plan``, routing ``top_k``;
    ``router_scale`` is the largest |logit| the router reaches on the fitting tokens."""
    import torch
    from transformers import MixtralForCausalLM

    experts = plan["experts"]
    cfg = mixtral_config(dense.config, experts, top_k)
    moe = MixtralForCausalLM(cfg)  # not on "meta": the rotary buffers are not in any state dict
    sd = dense.state_dict()
    out: dict[str, Any] = {}
    for key, v in sd.items():
        if ".mlp." not in key:
            out[key] = v.clone()
    for i in range(cfg.num_hidden_layers):
        p = f"model.layers.{i}.mlp."
        gate, up, down = sd[p + "gate_proj.weight"], sd[p + "up_proj.weight"], sd[p + "down_proj.weight"]
        lab = torch.as_tensor(plan["labels"][i])
        idx = [torch.nonzero(lab == c).flatten() for c in range(experts)]  # I/E neurons each, ascending
        out[p + "experts.gate_up_proj"] = torch.stack([torch.cat([gate[j], up[j]]) for j in idx])  # (E, 2I/E, H)
        # weight 1 per chosen expert: Mixtral multiplies by ~1/k, so down_proj carries the k
        out[p + "experts.down_proj"] = torch.stack([down[:, j] * top_k for j in idx])  # (E, H, I/E)
        w = torch.as_tensor(plan["routers"][i], dtype=torch.float64)  # (E, H)
        out[p + "gate.weight"] = (w * (router_scale / max(plan["peaks"][i], 1e-12))).to(gate.dtype)
    if cfg.tie_word_embeddings:
        out.pop("lm_head.weight", None)
    moe.load_state_dict(out, strict=not cfg.tie_word_embeddings, assign=True)
    if cfg.tie_word_embeddings:
        moe.tie_weights()
    moe.config.curate_moefication = {"version": DERIVE_VERSION, "experts": experts, "top_k": top_k,
                                     "router_scale": router_scale, "fit_tokens": plan["tokens"],
                                     "router_top2_recall": plan["recall"]}
    return moe.eval()


def token_nll(model, ids, batch_size: int = 2) -> float:
    """Mean next-token NLL of ``ids`` (N, L) (full logits: only for small held-out checks)."""
    import torch

    tot, n = 0.0, 0
    with torch.no_grad():
        for s in range(0, len(ids), batch_size):
            x = ids[s:s + batch_size]
            out = model(input_ids=x, labels=x, use_cache=False)
            m = x.shape[0] * (x.shape[1] - 1)
            tot, n = tot + float(out.loss) * m, n + m
    return tot / n


def check(dense, plan, eval_ids, *, top_ks: tuple[int, ...], router_scale: float) -> dict[str, Any]:
    """Max |logit difference| of the top-k = E model against dense on ``eval_ids``, and the
    held-out perplexity of dense and of every top-k in ``top_ks``."""
    import torch

    full = build_mixtral(dense, plan, top_k=plan["experts"], router_scale=router_scale)
    with torch.no_grad():
        diff = 0.0
        for s in range(0, len(eval_ids), 2):
            x = eval_ids[s:s + 2]
            diff = max(diff, float((full(input_ids=x).logits - dense(input_ids=x).logits).abs().max()))
    del full
    out = {"max_abs_logit_diff_top_k_eq_E": diff, "heldout_ppl_dense": round(math.exp(token_nll(dense, eval_ids)), 4),
           "eval_tokens": list(eval_ids.shape)}
    for k in top_ks:
        sparse = build_mixtral(dense, plan, top_k=k, router_scale=router_scale)
        out[f"heldout_ppl_top_{k}"] = round(math.exp(token_nll(sparse, eval_ids)), 4)
        del sparse
    return out


def save_plan(plan: dict[str, Any], path: Path) -> None:
    np.savez(path, labels=plan["labels"], routers=plan["routers"], peaks=np.array(plan["peaks"]),
             recall=np.array(plan["recall"]), experts=plan["experts"], tokens=plan["tokens"])


def load_plan(path: str | Path) -> dict[str, Any]:
    z = np.load(path)
    return {"labels": z["labels"], "routers": z["routers"], "peaks": z["peaks"].tolist(), "recall": z["recall"].tolist(),
            "experts": int(z["experts"]), "tokens": int(z["tokens"])}


def text_ids(tokenizer, *, split: str, n_per_source: int, seq_len: int, seed: int):
    """(N, L) LongTensor of windows from the bundled sources (:data:`FIT_SOURCES`)."""
    import torch

    from curate.score import source_samples

    rows = []
    for j, name in enumerate(FIT_SOURCES):
        rows += [s.input_ids for s in source_samples(name, tokenizer, n_per_source, seq_len, seed + j, split=split)]
    return torch.tensor(rows, dtype=torch.long)


PLAN_FILE = "moefication_plan.npz"  # neuron labels + unscaled routers: any top-k rebuilds from it


def derive(out: str | Path, *, base: str = "smollm2-135m", experts: int = 8, top_k: int = 2,
           router_scale: float = 1e-5, fit_per_source: int = 8, fit_len: int = 128, eval_per_source: int = 2,
           eval_len: int = 256, seed: int = 0, sweep: tuple[int, ...] = (), plan_from: str | Path | None = None,
           log=print) -> dict[str, Any]:
    """Derive, check and save. Fitting windows come from the calibration split of the bundled
    sources, the check's windows from their held-out split (never seen by the fit).
    ``plan_from``: a :data:`PLAN_FILE` of an earlier derivation (skips the fit); ``sweep``:
    more top-k values whose held-out perplexity is reported."""
    import time

    from curate.models import load_model

    t0 = time.perf_counter()
    dense, tok, info = load_model(base)
    fit_ids = text_ids(tok, split="calibration", n_per_source=fit_per_source, seq_len=fit_len, seed=seed)
    eval_ids = text_ids(tok, split="heldout", n_per_source=eval_per_source, seq_len=eval_len, seed=seed)
    if plan_from:
        plan = load_plan(plan_from)
        if plan["experts"] != experts:
            raise CurateError(f"{plan_from} splits into {plan['experts']} experts, not --experts {experts}")
    else:
        log(f"fitting on {tuple(fit_ids.shape)} tokens of {', '.join(FIT_SOURCES)}")
        plan = fit_moefication(dense, fit_ids, experts=experts, seed=seed, log=log)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save_plan(plan, out / PLAN_FILE)
    figures = check(dense, plan, eval_ids, top_ks=tuple(dict.fromkeys((top_k, *sweep))), router_scale=router_scale)
    figures |= {"experts": experts, "top_k": top_k, "router_scale": router_scale,
                "router_top2_recall_mean": round(float(np.mean(plan["recall"])), 4),
                "fit_tokens": list(fit_ids.shape), "base": base, "base_sha": info.sha,
                "derive_version": DERIVE_VERSION, "seconds": round(time.perf_counter() - t0, 1)}
    moe = build_mixtral(dense, plan, top_k=top_k, router_scale=router_scale)
    moe.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    (out / "curate_source.json").write_text(json.dumps({"derived": "moefication", **figures}, indent=2))
    return figures


def derive_alias(alias: str) -> Path:
    """Derive a :data:`curate.models.DERIVED_MODELS` alias once into its cache folder (written
    to a temporary folder and renamed into place, like the GGUF conversion)."""

    from curate.models import DERIVED_MODELS, derived_model_folder

    base, experts, top_k = DERIVED_MODELS[alias]
    target, _ = derived_model_folder(alias)
    if (target / "config.json").exists():
        return target
    from curate.files import atomic_folder

    return atomic_folder(target, lambda tmp: derive(tmp, base=base, experts=experts, top_k=top_k))


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m curate.moe.derive", description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", default="smollm2-135m")
    ap.add_argument("--experts", type=int, default=8)
    ap.add_argument("--top-k", type=int, default=2)
    ap.add_argument("--router-scale", type=float, default=1e-5)
    ap.add_argument("--sweep", default="", help="more top-k values to report held-out perplexity for, e.g. 4,6")
    ap.add_argument("--plan", default=None, help=f"reuse the {PLAN_FILE} of an earlier derivation (no refit)")
    ap.add_argument("--fit-per-source", type=int, default=8, help="fitting windows per bundled source")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", help="folder to write (or --alias)")
    ap.add_argument("--alias", help="derive a curate.models.DERIVED_MODELS alias into the curate cache")
    a = ap.parse_args(argv)
    if a.alias:
        print(derive_alias(a.alias))
        return 0
    if not a.out:
        ap.error("give --out FOLDER or --alias NAME")
    try:
        figures = derive(a.out, base=a.base, experts=a.experts, top_k=a.top_k, router_scale=a.router_scale,
                         fit_per_source=a.fit_per_source, seed=a.seed, plan_from=a.plan,
                         sweep=tuple(int(x) for x in a.sweep.split(",") if x.strip()))
    except CurateError as exc:
        print(f"error: {exc.one_line()}")
        return 2
    print(json.dumps(figures, indent=2))
    print(a.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
