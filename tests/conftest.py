"""Shared pytest set-up: the operator library is loaded once per session (importing ``operators`` sets
OMP_NUM_THREADS first, as every package of the project does: dcn.utils.env)."""
import pytest

import operators


@pytest.fixture(scope="session", autouse=True)
def _load_operators():
    operators.load()
