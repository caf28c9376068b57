"""Shared pytest set-up: the operator library is loaded once per session."""
import os

os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 1))

import pytest  # noqa: E402

import operators  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _load_operators():
    operators.load()
