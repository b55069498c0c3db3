from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import SERVER_STORES
from tests.support import LiveServer, run_server

RETRY_SCALE = 0.02
"""OAP's 1/2/4 s retry sleeps become 20/40/80 ms here; the count and order stay OAP's."""


@pytest.fixture(params=SERVER_STORES)
def server(request, tmp_path) -> Iterator[LiveServer]:
    """As tests/conftest.py's: SQLite, and PostgreSQL too when OPENINTENT_TEST_STORES says."""
    sqlite = request.param == "sqlite"
    db = tmp_path / "oi.db" if sqlite else request.getfixturevalue("postgres_url")
    with run_server(db, egress_allow_cidrs=["127.0.0.0/8"], oap_retry_scale=RETRY_SCALE) as live:
        yield live


@pytest.fixture
def api(server: LiveServer) -> Iterator[httpx.Client]:
    with server.client(agent_id="operator") as client:
        yield client
