from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support import LiveServer, run_server


@pytest.fixture
def server(tmp_path) -> Iterator[LiveServer]:
    """A real server on a loopback port with its own SQLite file."""
    with run_server(tmp_path / "oi.db") as live:
        yield live


@pytest.fixture
def api(server: LiveServer) -> Iterator[httpx.Client]:
    """An httpx client for `server`, authenticated, acting as agent `tester`."""
    with server.client() as client:
        yield client
