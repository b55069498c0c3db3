"""A PostgreSQL server for the tests of the PostgreSQL store.

`OPENINTENT_TEST_POSTGRES_URL` (a database the tests may create schemas in) when set, as CI
sets it; otherwise a throwaway cluster made with the local PostgreSQL binaries (initdb,
pg_ctl) in a temporary directory on a free loopback port; otherwise the tests that need it
are skipped with the reason. Each test gets its own schema (`fresh_schema_url`): creating
one costs milliseconds, a database a few hundred.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

import asyncpg

from tests.support import loopback_socket

URL_VARIABLE = "OPENINTENT_TEST_POSTGRES_URL"


def _binaries() -> Path | None:
    """The newest local PostgreSQL's bin directory (Debian: /usr/lib/postgresql/N/bin)."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
    )
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


def _as_cluster_owner(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run it as the `postgres` user."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


@contextmanager
def throwaway_cluster() -> Iterator[str]:
    """Start a cluster for this test run; yields its URL. Durability is off (fsync and
    synchronous_commit): nothing here has to survive a crash of the machine."""
    bindir = _binaries()
    if bindir is None:
        raise LookupError(f"no PostgreSQL binaries (initdb) found and {URL_VARIABLE} is not set")
    home = Path(tempfile.mkdtemp(prefix="openintent-pg-"))
    if os.geteuid() == 0:
        shutil.chown(home, "postgres")
    data = home / "data"
    with loopback_socket() as sock:
        port = sock.getsockname()[1]
    subprocess.run(
        _as_cluster_owner(
            [str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]
        ),
        check=True,
        capture_output=True,
    )
    options = (
        f"-p {port} -k {home} -c listen_addresses=127.0.0.1 -c fsync=off"
        " -c synchronous_commit=off -c full_page_writes=off"
    )
    subprocess.run(
        _as_cluster_owner(
            [str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l",
             str(home / "log"), "-w", "start"]
        ),
        check=True,
        capture_output=True,
    )  # fmt: skip
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_cluster_owner([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(home, ignore_errors=True)


def with_search_path(url: str, schema: str) -> str:
    """The URL with `search_path` set (asyncpg passes unknown URL parameters to the server
    as settings)."""
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode({"search_path": schema})) if q)
    return urlunsplit(parts._replace(query=query))


async def fresh_schema_url(url: str) -> tuple[str, str]:
    """A new empty schema on the server: (its URL, its name)."""
    schema = f"t_{uuid.uuid4().hex[:16]}"
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f"CREATE SCHEMA {schema}")
    finally:
        await conn.close()
    return with_search_path(url, schema), schema


async def drop_schema(url: str, schema: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    finally:
        await conn.close()
