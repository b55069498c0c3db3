"""One sender of webhook deliveries among the instances on a database.

The instance whose dedicated connection holds a session advisory lock sends deliveries; the
others' `due_deliveries` answer nothing. A delivery is therefore never sent by two live
instances at once, and when the sender dies its connection ends, PostgreSQL releases the
lock, and the next instance to poll (the worker polls every second) takes over what is
still pending. As with one server, a delivery sent just before its sender died, but not yet
recorded, is sent again: at least once, never twice concurrently.
"""

from __future__ import annotations

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
