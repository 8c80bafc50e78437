VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

CORE_VENV := build/core-venv

# torch goes in first, from TORCH_INDEX when set: a bare "torch" requirement on Linux pulls
# PyPI's CUDA build (~18 nvidia packages and triton, several GB). On your own machine, take
# the CPU build (a few hundred MB) from PyTorch's CPU index:
#   make demo TORCH_INDEX=https://download.pytorch.org/whl/cpu
# (or a CUDA index such as https://download.pytorch.org/whl/cu126 for a GPU). Left empty,
# the pinned pair below comes from PyPI or the local wheel mirror, as CI does.
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
TORCH_INDEX ?=

.PHONY: demo test test-fast test-core lint bench

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) $(TORCH_SPEC)
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/fmood demo --out fmood-demo-out

test: $(STAMP)
	$(PY) -m pytest -q

# For development: everything but the tests marked slow (real models, demo, examples, benchmarks).
test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

# The core install alone (pip install ., no extras, no torch) in a fresh venv: the tests listed
# in tests/core_tests.txt must pass there.
test-core:
	rm -rf $(CORE_VENV) build/lib  # build/lib: setuptools' copy, stale files would ship
	python3 -m venv $(CORE_VENV)
	$(CORE_VENV)/bin/python -m pip install --quiet . pytest
	@if $(CORE_VENV)/bin/python -c "import torch" 2>/dev/null; then \
		echo "the core install pulled in torch" >&2; exit 1; fi
	$(CORE_VENV)/bin/pytest -q -p no:cacheprovider $$(grep -v '^#' tests/core_tests.txt)

# What CI checks besides the tests (pinned in the [lint] extra): formatting, lint, types.
lint: $(STAMP)
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(PY) benchmarks/bench_scorers.py
