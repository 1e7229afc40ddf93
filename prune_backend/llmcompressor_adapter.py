"""Run llm-compressor's own Wanda / SparseGPT modifiers through the prune_backend interface.

    from prune_backend import PruneConfig, prune_model
    report = prune_model(model, ids, PruneConfig(method="llmcompressor-sparsegpt", sparsity=0.5, pattern="2:4"))

Optional: needs ``pip install llmcompressor`` (vllm-project/llm-compressor). It is
imported only when one of these methods is chosen and fails with the install command when
absent. The calibration tokens are handed to ``llmcompressor.oneshot`` as an in-memory
``datasets.Dataset`` with ``input_ids``/``attention_mask``; OWL maps to the modifiers'
``sparsity_profile="owl"`` with ``owl_m``/``owl_lmbda``. llm-compressor's ``mask_structure="N:M"``
counts the *pruned* weights of a group, ours the kept ones, so our N:M is handed over as
``"{M-N}:{M}"``. DSnoT has no llm-compressor counterpart.
The report is rebuilt by reading the pruned weights back.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import torch

from prune_backend.errors import PruneError, requires
from prune_backend.layers import decoder_layers
from prune_backend.methods.base import PruningMethod
from prune_backend.report import PruneReport

_INSTALL = "pip install llmcompressor"


class _LLMCompressorMethod(PruningMethod):
    whole_model: ClassVar[bool] = True
    modifier_path: ClassVar[tuple[str, str]] = ("", "")

    def modifier(self) -> Any:
        mod = requires(self.modifier_path[0], install=_INSTALL, what=f"method '{self.name}'")
        cls = getattr(mod, self.modifier_path[1])
        cfg = self.cfg
        kw: dict[str, Any] = {"sparsity": cfg.sparsity, "targets": [r"re:.*layers\.\d+$"],
                              "ignore": ["re:.*lm_head"]}
        if cfg.nm is None:
            kw["mask_structure"] = "0:0"
        else:  # llm-compressor's "N:M" prunes N of every M; ours keeps N
            n, m = cfg.nm
            kw["mask_structure"] = f"{m - n}:{m}"
        if cfg.owl:
            kw.update(sparsity_profile="owl", owl_m=cfg.owl_m, owl_lmbda=cfg.owl_lambda)
        kw.update(self.extra_kwargs())
        return cls(**kw)

    def extra_kwargs(self) -> dict[str, Any]:
        return {}

    def run(self, model, input_ids: torch.LongTensor, attention_mask=None, progress: bool = True) -> PruneReport:
        if self.cfg.dsnot:
            raise PruneError(f"method '{self.name}' cannot add DSnoT", hint="use method wanda or sparsegpt with dsnot")
        llmc = requires("llmcompressor", install=_INSTALL, what=f"method '{self.name}'")
        import datasets

        # No mask column when there is no mask: the model then runs exactly as for a set fed with
        # load_from_disk(...).select_columns(["input_ids"]) (an all-ones mask takes another attention
        # path whose float noise flips a few near-tie weights in the last layers).
        cols = {"input_ids": input_ids.tolist()}
        if attention_mask is not None:
            cols["attention_mask"] = attention_mask.tolist()
        ds = datasets.Dataset.from_dict(cols)
        t0 = time.perf_counter()
        llmc.oneshot(model=model, dataset=ds, recipe=[self.modifier()],
                     num_calibration_samples=int(input_ids.shape[0]), max_seq_length=int(input_ids.shape[1]))
        report = PruneReport(method=self.name, pattern=self.cfg.pattern, sparsity=self.cfg.sparsity,
                             config=self.cfg.to_dict(), nsamples=int(input_ids.shape[0]),
                             seqlen=int(input_ids.shape[1]), seconds=time.perf_counter() - t0)
        for i, layer in enumerate(decoder_layers(model)):
            for name, mod in layer.named_modules():
                if isinstance(mod, torch.nn.Linear):
                    zeros = int((mod.weight == 0).sum())
                    report.layers.append({
                        "name": f"layers.{i}.{name}", "layer": i, "linear": name, "shape": list(mod.weight.shape),
                        "method": self.name, "pattern": self.cfg.pattern, "owl": self.cfg.owl, "dsnot": False,
                        "dsnot_swaps": None, "target": self.cfg.sparsity, "actual": zeros / mod.weight.numel(),
                        "zeros": zeros, "numel": mod.weight.numel(), "seconds": None,
                    })
        return report


class LLMCompressorWanda(_LLMCompressorMethod):
    """llm-compressor's ``WandaPruningModifier`` (Sun et al. 2024)."""

    name = "llmcompressor-wanda"
    modifier_path = ("llmcompressor.modifiers.pruning", "WandaPruningModifier")


class LLMCompressorSparseGPT(_LLMCompressorMethod):
    """llm-compressor's ``SparseGPTModifier`` (Frantar & Alistarh 2023)."""

    name = "llmcompressor-sparsegpt"
    modifier_path = ("llmcompressor.modifiers.obcq", "SparseGPTModifier")

    def extra_kwargs(self) -> dict[str, Any]:
        return {"block_size": self.cfg.blocksize, "dampening_frac": self.cfg.percdamp}
