"""COLA-style activation-coverage selection (after He et al., NeurIPS 2025, "COLA").

    pool_size: 160
    n_samples: 40
    steps:
      - {type: cola, layer: middle}

COLA chooses calibration samples that cover the model's activation space instead of one
region of it. The paper is not available offline; what this step does, exactly:

1. **Embed** every pool sample with the model being pruned: the hidden states of one decoder
   layer (``last``: the final normed hidden state; ``middle``: the output of layer
   ``num_layers // 2``), mean-pooled over the sample's L tokens -> (N, D). No lm_head is run.
2. **Normalise** each embedding to unit L2 norm (``normalize: true``), so k-means groups
   directions (cosine geometry) rather than activation magnitudes.
3. **Cluster** with scikit-learn ``KMeans(n_clusters=n, random_state=seed, n_init=4)``: one
   cluster per calibration sample to keep.
4. **Keep** from each cluster the member nearest its centroid (ties: lowest pool index).

Each cluster is a region of activation space and every region contributes one representative,
so the set spans the regions the pool spans. Pure functions (:func:`kmeans_representatives`,
:func:`mean_pool`) are apart from the model plumbing (:func:`embed`).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from curate.records import Sample
from curate.steps.base import Step, StepSpec


def mean_pool(hidden, mask=None):
    """(B, L, D) hidden states -> (B, D) mean over the tokens where ``mask`` (B, L) is 1."""
    if mask is None:
        return hidden.mean(dim=1)
    m = mask.unsqueeze(-1).to(hidden.dtype)  # (B, L, 1)
    return (hidden * m).sum(dim=1) / m.sum(dim=1).clamp_min(1.0)


def embed(model, input_ids, *, layer: Literal["last", "middle"] = "middle", batch_size: int = 8):
    """Mean-pooled hidden states of ``input_ids`` (N, L) at ``layer``: float32 ndarray (N, D).

    Runs the decoder stack only (``model.model`` for Llama-style models), never the lm_head."""
    import torch

    base = getattr(model, getattr(model, "base_model_prefix", "model"), model)
    n_layers = model.config.num_hidden_layers
    # hidden_states[0] is the embedding output, [i] the output of layer i, [-1] the normed final state.
    index = -1 if layer == "last" else n_layers // 2
    device = next(model.parameters()).device
    out = []
    with torch.no_grad():
        for i in range(0, input_ids.shape[0], batch_size):
            x = input_ids[i:i + batch_size].to(device)  # (B, L)
            hs = base(input_ids=x, output_hidden_states=True).hidden_states[index]  # (B, L, D)
            out.append(mean_pool(hs.float()).cpu())
    return torch.cat(out).numpy()  # (N, D)


def kmeans_representatives(x: np.ndarray, k: int, *, seed: int = 0, normalize: bool = True) -> tuple[list[int], dict[str, Any]]:
    """Indices (sorted) of the member nearest each of ``k`` k-means centroids of ``x`` (N, D)."""
    from sklearn.cluster import KMeans

    x = np.asarray(x, dtype=np.float64)
    if k > len(x):
        raise ValueError(f"COLA needs a pool of at least n={k} samples, got {len(x)}")
    if normalize:
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    km = KMeans(n_clusters=k, random_state=seed, n_init=4).fit(x)
    dist = np.linalg.norm(x - km.cluster_centers_[km.labels_], axis=1)  # (N,) to own centroid
    picked = []
    for c in range(k):
        members = np.flatnonzero(km.labels_ == c)
        if len(members):
            picked.append(int(members[np.argmin(dist[members])]))  # argmin: first index on ties
    sizes = np.bincount(km.labels_, minlength=k)
    info = {"clusters": k, "inertia": float(km.inertia_), "cluster_size_min": int(sizes.min()),
            "cluster_size_max": int(sizes.max()), "normalize": normalize}
    return sorted(picked), info


class ColaSpec(StepSpec):
    """Recipe block of COLA-style selection (He et al. 2025): k-means on mean-pooled hidden
    states, one representative per cluster (set-level ``steps``, over a pool)."""

    type: Literal["cola"]
    n: int | None = Field(default=None, gt=0)
    layer: Literal["last", "middle"] = "middle"
    normalize: bool = True
    selects: ClassVar[bool] = True


class ColaStep(Step):
    """Recipe step ``{type: cola}``: keep ``n`` (default: n_samples) cluster representatives."""

    kind = "selector"

    def __init__(self, spec, target: int, seed: int = 0, **_):
        super().__init__(name=f"cola:{spec.layer}")
        self.spec, self.target, self.seed = spec, target, seed

    def process(self, samples: list[Sample], ctx: Any) -> list[Sample]:
        import torch

        n = min(self.spec.n or self.target, len(samples))
        ids = torch.tensor([s.input_ids for s in samples], dtype=torch.long)  # (N, L): all L tokens
        x = embed(ctx.model, ids, layer=self.spec.layer, batch_size=ctx.batch_size)
        idx, info = kmeans_representatives(x, n, seed=self.seed % (2**31), normalize=self.spec.normalize)
        self.stats.extra["cola"] = {**info, "layer": self.spec.layer}
        self.stats.drop("cola_not_representative", len(samples) - len(idx))
        return [samples[i] for i in idx]
