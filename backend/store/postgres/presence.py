"""Per-row claims by live instances on federation outbox jobs and workflow phase
dispatches (`Presence`, `claim_free`).

Each instance holds a random key as a session advisory lock; a row claimed with that key
stays its instance's while the lock is held. When the instance dies its connection ends,
PostgreSQL releases the lock, and the row is anyone's at once (no deadline to wait out).
Webhook deliveries and OAP chains use deadline claims instead (`claims.py`,
`oap_claims.py`): they need no connection held per instance, but a dead instance's rows
wait out the deadline. Three mechanisms where one could serve is noted as open work.
"""

from __future__ import annotations

import asyncio
import secrets

import asyncpg

LIVE_CLAIMS = (
    "(SELECT (l.classid::bigint << 32) | l.objid::bigint FROM pg_locks l"
    " WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.granted"
    " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()))"
)
"""The claim keys of the live instances (`Presence`), as a subquery."""


def claim_free(column: str, me: str) -> str:
    """SQL: the row's claim is free for the instance whose key is the parameter `me`:
    unclaimed, its own, or its claimer's session is gone."""
    return f"({column} IS NULL OR {column} = {me} OR {column} NOT IN {LIVE_CLAIMS})"


class Presence:
    """This instance's claim key on per-row claims (federation outbox jobs, workflow phase
    dispatches): a random 62-bit key it holds as a session advisory lock (the one-bigint
    form, unlike the locks above) on a connection of its own. A claim stands while that
    lock is held; when the instance dies its connection ends, PostgreSQL releases the
    lock, and any other instance may take its claims over at once.

    If the connection is lost while the instance lives, it takes the lock again with the
    same key; in between, another instance may have taken over a job this one was sending
    (both then send it: at least once, as a restart would)."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.key = secrets.randbelow(2**62 - 1) + 1
        self._conn: asyncpg.Connection | None = None
        self._lock = asyncio.Lock()

    async def claim_key(self) -> int:
        """The key, once its lock is held."""
        async with self._lock:
            if self._conn is None or self._conn.is_closed():
                conn = await asyncpg.connect(self.dsn)
                try:
                    await conn.execute("SELECT pg_advisory_lock($1::bigint)", self.key)
                except BaseException:
                    await conn.close()
                    raise
                self._conn = conn
        return self.key

    async def release(self) -> None:
        async with self._lock:
            if self._conn is not None:
                await self._conn.close()  # the lock goes with the session
            self._conn = None
