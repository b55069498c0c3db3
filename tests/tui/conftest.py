from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.tui.reference_server import ReferenceServer, run_reference_server


@pytest.fixture(scope="session")
def reference_server(tmp_path_factory) -> Iterator[ReferenceServer]:
    """The official reference server (`openintent-server`), one subprocess for the session:
    tests share it, so each creates its own intents (it cannot list them anyway)."""
    with run_reference_server(tmp_path_factory.mktemp("reference")) as server:
        yield server
