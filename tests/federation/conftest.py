"""Fixtures shared by the federation tests."""

from __future__ import annotations

import pytest

from tests.support import run_server

from .helpers import write_config


@pytest.fixture
def pair(tmp_path):
    """A and B; B allowlists A by URL only (A's key comes from A's manifest), A knows B."""
    with run_server(tmp_path / "a.db", federation_enabled=True) as a:
        b_config = write_config(
            tmp_path / "b.yaml",
            f'federation:\n  trust_policy: allowlist\n  peers:\n    - "{a.url}"\n',
        )
        with run_server(
            tmp_path / "b.db", federation_enabled=True, federation_config=b_config
        ) as b:
            yield a, b
