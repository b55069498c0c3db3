from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import LiveServer, run_server
from tests.tui.reference_server import ReferenceServer, run_reference_server


@pytest.fixture(params=["sqlite"])
def server(tmp_path) -> Iterator[LiveServer]:
    """Our server for the console's tests: SQLite whatever OPENINTENT_TEST_STORES says. The
    console sees the same API on either store (the API and SDK tests run on both); what
    these tests check is the console, and on PostgreSQL they would add minutes to CI."""
    with run_server(tmp_path / "oi.db") as live:
        yield live


@pytest.fixture(scope="session")
def reference_server(tmp_path_factory) -> Iterator[ReferenceServer]:
    """The official reference server (`openintent-server`), one subprocess for the session:
    tests share it, so each creates its own intents (it cannot list them anyway)."""
    with run_reference_server(tmp_path_factory.mktemp("reference")) as server:
        yield server
