"""Versioned migrations of the PostgreSQL store: `migrations/NNNN_name.sql`, each once, in
order, each in its own transaction with its row in `schema_migrations`.

Several server instances may start at once on one database: a session advisory lock makes
them migrate one after another (the second finds the work done). A database migrated by a
newer version of the code is refused rather than written with an older idea of its tables.
"""

from __future__ import annotations

import re
from importlib import resources

import asyncpg

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# pg_advisory_lock's keys: a constant the application uses for nothing else ("OIMG"), and
# the schema's, so stores in different schemas of one database (the tests') do not
# wait for each other. (Advisory locks are per database already.)
MIGRATION_LOCK = 0x4F494D47


class DatabaseTooNew(RuntimeError):
    pass


def migration_files() -> list[tuple[int, str, str]]:
    """(number, file name, sql) sorted by number; numbers must be unique."""
    found = []
    for entry in resources.files(__package__).joinpath("migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text()))
    found.sort()
    numbers = [n for n, _, _ in found]
    if len(numbers) != len(set(numbers)):
        raise RuntimeError(f"duplicate migration numbers: {numbers}")
    return found


async def migrate(conn: asyncpg.Connection) -> int:
    """Apply what is missing; returns the database's version afterwards."""
    await conn.execute("SELECT pg_advisory_lock($1, hashtext(current_schema()))", MIGRATION_LOCK)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY,"
            " name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        current = await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
        files = migration_files()
        known = files[-1][0] if files else 0
        if current > known:
            raise DatabaseTooNew(
                f"The database is at schema version {current}, newer than this code knows"
                f" ({known}): upgrade openintent-tui before serving it"
            )
        for number, name, sql in files:
            if number <= current:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", number, name
                )
            current = number
        return current
    finally:
        await conn.execute(
            "SELECT pg_advisory_unlock($1, hashtext(current_schema()))", MIGRATION_LOCK
        )
