"""Fixtures shared by the federation tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import SERVER_STORES
from tests.support import run_server

from .helpers import run_sync, write_config

Databases = Callable[[str], "Path | str"]


@pytest.fixture(params=SERVER_STORES)
def databases(request, tmp_path) -> Iterator[Databases]:
    """`databases(name)`: the database of this test's server `name` (the same one each time
    it is asked for, so a server can restart on it): `<name>.db` in tmp_path, or a fresh
    schema on the test PostgreSQL server when the store under test is PostgreSQL
    (`OPENINTENT_TEST_STORES`, as the `server` fixture)."""
    if request.param == "sqlite":
        yield lambda name: tmp_path / f"{name}.db"
        return
    from tests.pg_support import drop_schema, fresh_schema_url

    server_url = request.getfixturevalue("postgres_server")
    made: dict[str, tuple[str, str]] = {}

    def database(name: str) -> str:
        if name not in made:
            made[name] = run_sync(fresh_schema_url(server_url))
        return made[name][0]

    try:
        yield database
    finally:
        for _, schema in made.values():
            run_sync(drop_schema(server_url, schema))


@pytest.fixture
def pair(tmp_path, databases):
    """A and B; B allowlists A by URL only (A's key comes from A's manifest), A knows B."""
    with run_server(databases("a"), federation_enabled=True) as a:
        b_config = write_config(
            tmp_path / "b.yaml",
            f'federation:\n  trust_policy: allowlist\n  peers:\n    - "{a.url}"\n',
        )
        with run_server(databases("b"), federation_enabled=True, federation_config=b_config) as b:
            yield a, b
