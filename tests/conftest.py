from __future__ import annotations

import pytest
from envtools import ALL_ENV_IDS


@pytest.fixture(params=ALL_ENV_IDS)
def env_id(request) -> str:
    return request.param
