"""Who does what among the instances on one database: one sender of webhook deliveries
(`Leadership`), and per-row claims on federation jobs and workflow phase dispatches by live
instances (`Presence`, `claim_free`).

The instance whose dedicated connection holds a session advisory lock sends deliveries; the
others' `due_deliveries` answer nothing. A delivery is therefore never sent by two live
instances at once, and when the sender dies its connection ends, PostgreSQL releases the
lock, and the next instance to poll (the worker polls every second) takes over what is
still pending. As with one server, a delivery sent just before its sender died, but not yet
recorded, is sent again: at least once, never twice concurrently.
"""

from __future__ import annotations

import asyncio
import secrets

import asyncpg

# pg_advisory_lock's first key: a constant the application uses for nothing else ("OIWH");
# the second is the schema's, so stores in different schemas of one database (the tests')
# do not take each other's turn. (Advisory locks are per database already.)
DELIVERY_LOCK = 0x4F495748


class Leadership:
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._conn: asyncpg.Connection | None = None
        self._held = False

    async def held(self) -> bool:
        """True while this instance is the sender (tries to become it when it is not)."""
        if self._held and self._conn is not None and not self._conn.is_closed():
            return True
        self._held = False
        if self._conn is None or self._conn.is_closed():
            self._conn = await asyncpg.connect(self.dsn)
        self._held = bool(
            await self._conn.fetchval(
                "SELECT pg_try_advisory_lock($1, hashtext(current_schema()))", DELIVERY_LOCK
            )
        )
        return self._held

    async def release(self) -> None:
        if self._conn is not None:
            await self._conn.close()  # the session lock goes with it
        self._conn, self._held = None, False


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
