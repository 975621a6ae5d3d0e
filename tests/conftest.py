from __future__ import annotations

import pytest
from envtools import ALL_ENV_IDS


@pytest.fixture(params=ALL_ENV_IDS)
def env_id(request) -> str:
    return request.param

# helper modules, not test files: --doctest-modules would import them a second time
collect_ignore = ["envtools.py", "toy_env.py"]
