from __future__ import annotations

import os

# Tiny models spend their time in per-op overhead: more threads only add contention (measured
# up to 10x slower generation with 2 threads on a busy 2-core machine). Set before torch loads;
# inherited by the CLI subprocesses the tests start.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
# dtype="auto" (the default) picks bfloat16 on CPUs with native support: the suite's numbers
# must not depend on the host, so it runs as on a CPU without (tests that need either path
# force the detection themselves; see test_dtype.py). Inherited by subprocesses too.
os.environ["COLLABZOO_CPU_BF16"] = "0"
# likewise on a GPU machine: the suite runs on the CPU (models default to cuda when one is
# visible, and the numbers checked here are the CPU's)
os.environ["CUDA_VISIBLE_DEVICES"] = ""

import pytest
from envtools import ALL_ENV_IDS


@pytest.fixture(params=ALL_ENV_IDS)
def env_id(request) -> str:
    return request.param

# helper modules, not test files: --doctest-modules would import them a second time
collect_ignore = ["envtools.py", "toy_env.py"]
