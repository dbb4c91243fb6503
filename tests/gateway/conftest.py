"""Fixtures for the access gateway's tests; the helpers live in gwtest.py (a unique module name)."""

import pytest
from gwtest import make_gateway


@pytest.fixture
def gateway(tmp_path):
    return make_gateway(tmp_path)
