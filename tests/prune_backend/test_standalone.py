"""prune_backend stands alone on torch + transformers: curate imports it, never the reverse."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import json, sys, tempfile
import torch
from transformers import LlamaConfig, LlamaForCausalLM
from prune_backend import METHODS, PruneConfig, PruneError, prune_model, save_pruned

torch.manual_seed(0)
model = LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                     num_key_value_heads=2, intermediate_size=64)).eval()
dense = {k: v.clone() for k, v in model.state_dict().items()}
ids = torch.randint(0, 64, (4, 16), generator=torch.Generator().manual_seed(0))
sparsity = {}
for cfg in (PruneConfig(method="wanda", pattern="2:4", dsnot=True), PruneConfig(method="sparsegpt", pattern="1:4"),
            PruneConfig(method="magnitude", sparsity=0.6, owl=True)):
    model.load_state_dict(dense)
    sparsity[f"{cfg.method} {cfg.pattern}"] = prune_model(model, ids, cfg, progress=False).total_sparsity
report = prune_model(model, ids, PruneConfig(method="wanda"), progress=False)
save_pruned(model, None, tempfile.mkdtemp() + "/out", report)
try:
    PruneConfig(method="wandda")
except PruneError as exc:
    error = str(exc)
METHODS.names()
print(json.dumps({"curate": sorted(m for m in sys.modules if m == "curate" or m.startswith("curate.")),
                  "sparsity": sparsity, "error": error}))
"""


def test_pruning_in_a_fresh_interpreter_never_imports_curate():
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "TOKENIZERS_PARALLELISM": "false"})
    assert out.returncode == 0, out.stderr[-2000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["curate"] == []
    assert res["sparsity"] == pytest.approx({"wanda 2:4": 0.5, "sparsegpt 1:4": 0.75, "magnitude unstructured": 0.6},
                                            abs=1e-3)
    assert "did you mean 'wanda'" in res["error"]


def test_no_module_of_prune_backend_imports_curate():
    """The static half: not even a lazy import inside a function."""
    offenders = []
    for path in (ROOT / "prune_backend").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names if n == "curate" or n.startswith("curate.")]
    assert offenders == []
