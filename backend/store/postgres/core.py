"""PostgreSQL plumbing: a pool of reader connections, one writer task per instance that
commits queued writes in batches, and the transaction handle `Tx`.

A write is an async function `op(tx)`. The writer runs a batch of queued ops in one
transaction; an op that raises fails only its caller (with a SAVEPOINT per op only when one
must be undone: `_run_batch`); a failed COMMIT fails the whole batch. One transaction per
batch is PostgreSQL's group commit done by hand: one WAL flush for many writes. The ops of
a batch run one after another on one connection, so what a write costs is mostly its round
trips: the hot ones are one statement each (`_intent_event_sql`), deferred and sent together
when their answer is known in advance (`pipeline.py`), and the batch ends in one round trip.

The global event sequence (issue 12: gapless and commit-ordered across instances): every
write transaction first locks the single `event_head` row (`SELECT ... FOR UPDATE`) and
holds it until COMMIT, numbering its events from it. So write transactions on the database
run one after another whatever instance they come from, ids are handed out in commit order,
a rolled-back op's numbers are reused by the next (no gaps), and PostgreSQL makes a
transaction's rows visible before it releases its locks, so no reader can see id N+1 before
id N. The price: writers of all instances serialise on that row for the length of a batch
(reads never wait). A PostgreSQL SEQUENCE would not do: its numbers are taken at INSERT
and committed in any order, so a reader at "after N" could skip a lower id committed later.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Annotated, Any, TypeVar, cast

import asyncpg
import msgspec
from asyncpg.pool import PoolConnectionProxy

from ...domain.clock import iso, utc_now
from ...domain.errors import NotFound
from ...wire.events import Event
from ...wire.intents import Intent
from ...wire.limits import MAX_INT64
from ..events import CommitListener
from ..keyset import KeyColumns, check_cursor_or_offset, decode_cursor, encode_cursor
from ..sqlite.core import RowSize, dumps, loads, new_uid, rows_within, text_size
from .live import CHANNEL, CommitFeed
from .pipeline import KnownIntents, Pipeline
from .schema import migrate

T = TypeVar("T")

MAX_BATCH = 256

EVENT_COLUMNS = (
    "id, uid, intent_id, portfolio_id, seq, event_type, actor, payload, created_at,"
    " trace_id, parent_event_id"
)
_EVENT_PAYLOAD = 7
_EVENT_CAPPED_FIELDS_BYTES = 1024  # ids, type, actor, times: each capped on the way in


def event_row_size(row: Any) -> int:
    """As the SQLite store's: the payload and a bound for the capped fields."""
    return _EVENT_CAPPED_FIELDS_BYTES + len(row[_EVENT_PAYLOAD] or "")


def within(
    rows: list[asyncpg.Record], limit: int, max_bytes: int | None, size: RowSize = text_size
) -> tuple[list[asyncpg.Record], bool]:
    """The SQLite store's `rows_within` (one definition of the response budget) over
    asyncpg records, which are sequences without saying so to the type checker."""
    return rows_within(cast(list[Any], rows), limit, max_bytes, size)


def iso_or_none(moment: datetime | None) -> str | None:
    return None if moment is None else iso(moment)


def event_from_row(row: Any) -> Event:
    (
        global_seq,
        uid,
        intent_id,
        portfolio_id,
        seq,
        event_type,
        actor,
        payload,
        created_at,
        trace_id,
        parent_event_id,
    ) = row
    return Event(
        id=uid,
        intent_id=intent_id,
        event_type=event_type,
        actor=actor,
        payload=loads(payload),
        created_at=iso(created_at),
        sequence=seq or 0,
        global_sequence=global_seq,
        portfolio_id=portfolio_id,
        trace_id=trace_id,
        parent_event_id=parent_event_id,
    )


_EVENT_VALUES = "$1, $2, $3, $4, {seq}, $5, $6, $7, $8, $9, $10"
_EVENT_ARGS = 10  # $1..$10 above; an intent's columns follow from $11 (`_intent_event_sql`)
_INSERT_EVENT = f"INSERT INTO events ({EVENT_COLUMNS}) VALUES ({_EVENT_VALUES.format(seq='NULL')})"


@functools.cache
def _intent_event_sql(also_set: tuple[str, ...]) -> str:
    """One statement (one round trip) that moves the intent's sequence head, sets
    `also_set` columns to $12.. (the mutation the event records), and inserts the event
    numbered from that head; it inserts nothing for a missing intent. $11: touch
    `last_activity_at`."""
    sets = "".join(f", {column} = ${_EVENT_ARGS + 2 + i}" for i, column in enumerate(also_set))
    return (
        "WITH head AS (UPDATE intents SET last_event_seq = last_event_seq + 1,"
        f" last_activity_at = CASE WHEN $11 THEN $8 ELSE last_activity_at END{sets}"
        " WHERE id = $3 RETURNING last_event_seq)"
        f" INSERT INTO events ({EVENT_COLUMNS})"
        f" SELECT {_EVENT_VALUES.format(seq='head.last_event_seq')} FROM head RETURNING seq"
    )


@functools.cache
def _known_intent_event_sql(also_set: tuple[str, ...], version_checked: bool) -> str:
    """`_intent_event_sql` for an intent whose event head is known (`pipeline.py`): $12 is
    the event's sequence, $13 the version the row must still have (`version_checked`), the
    `also_set` values follow. It returns nothing, so it can be deferred; if the row is not
    as assumed, nothing is updated, the event's id is NULL and the statement fails."""
    first = _EVENT_ARGS + 3 + version_checked
    sets = "".join(f", {column} = ${first + i}" for i, column in enumerate(also_set))
    check = " AND version = $13" if version_checked else ""
    return (
        "WITH head AS (UPDATE intents SET last_event_seq = $12,"
        f" last_activity_at = CASE WHEN $11 THEN $8 ELSE last_activity_at END{sets}"
        f" WHERE id = $3 AND last_event_seq = $12 - 1{check} RETURNING id)"
        f" INSERT INTO events ({EVENT_COLUMNS}) SELECT (SELECT $1::bigint FROM head),"
        f" {_EVENT_VALUES.format(seq='$12').split(', ', 1)[1]}"
    )


@functools.cache
def _created_intent_event_sql(columns: tuple[str, ...]) -> str:
    """One statement that inserts an intent (`columns` from $11, its event head already at
    1) and its first event. The events' foreign key is checked at the end of the statement,
    when the intent row exists."""
    marks = ", ".join(f"${_EVENT_ARGS + 1 + i}" for i in range(len(columns)))
    return (
        f"WITH created AS (INSERT INTO intents ({', '.join(columns)}, last_event_seq)"
        f" VALUES ({marks}, 1) RETURNING id)"
        f" INSERT INTO events ({EVENT_COLUMNS})"
        f" SELECT {_EVENT_VALUES.format(seq='1')} FROM created"
    )


StateGuard = Callable[["Tx", str, list[str], str | None], Awaitable[None]]
EventGuard = Callable[["Tx", str, str, str | None], Awaitable[None]]
StatusHook = Callable[["Tx", str, str, str, str | None], Awaitable[None]]
EventHook = Callable[["Tx", Event], Awaitable[None]]


class WriteHooks:
    """Rules of one feature that run inside another feature's write transaction (as the
    SQLite store's `WriteHooks`, but awaited). `PostgresStore.__init__` fills them in."""

    __slots__ = (
        "event_appended", "event_logging", "lease_rules", "rolled_back", "state_patching",
        "status_changed",
    )  # fmt: skip

    def __init__(self) -> None:
        self.event_logging: list[EventGuard] = []
        """Before a client's own event (the events API) is appended; raises to refuse it."""
        self.state_patching: list[StateGuard] = []
        """Before every state patch; raises to refuse it (e.g. a delegated agent's scope)."""
        self.lease_rules: list[StateGuard] = []
        """Before a state patch of an intent with a live lease (lease_guard): a patch that
        saw no live lease in its read of the intent skips them, and so saves their reads."""
        self.status_changed: list[StatusHook] = []
        self.event_appended: list[EventHook] = []
        self.rolled_back: list[Callable[[], None]] = []

    def state_guards(self, live_lease: bool) -> list[StateGuard]:
        """What a state patch runs before it writes."""
        return [*self.state_patching, *self.lease_rules] if live_lease else self.state_patching


class Tx:
    """What an op sees: the writer connection inside the batch's transaction (the query
    methods are asyncpg's, so a helper takes a Tx or a pool connection alike), `emit`, the
    store's write hooks, and the last global event id handed out. It notes whether the op
    may have written (any statement but a SELECT) and whether a statement failed: the writer
    needs a savepoint to undo an op only then (`PostgresCore._run_batch`)."""

    __slots__ = (
        "cache_version", "conn", "events", "failed", "federated_version", "head", "hooks",
        "known", "moment", "now", "pipeline", "wrote",
    )  # fmt: skip

    def __init__(
        self,
        conn: asyncpg.Connection,
        hooks: WriteHooks,
        head: int,
        cache_version: int,
        pipeline: Pipeline | None = None,
        known: KnownIntents | None = None,
        federated_version: int = 0,
    ) -> None:
        self.conn = conn
        self.hooks = hooks
        self.pipeline = pipeline or Pipeline(conn, enabled=False)
        self.known = known or KnownIntents()
        self.moment = utc_now()
        self.now = iso(self.moment)
        self.head = head
        self.cache_version = cache_version
        """`event_head.cache_version` as this transaction sees it: any instance's change to
        data that in-process caches hold (webhook subscriptions) raises it, so a cache
        built at another version is stale."""
        self.federated_version = federated_version
        """`event_head.federated_version`, as `cache_version` for the index of federated
        intents (raised by every received dispatch, which need not stale the others)."""
        self.events: list[Event] = []
        self.wrote = False
        self.failed = False

    async def caches_changed(self) -> None:
        """Tell every instance's caches (see `cache_version`) that their data changed."""
        self.cache_version = await self.fetchval(
            "UPDATE event_head SET cache_version = cache_version + 1 RETURNING cache_version"
        )

    async def federated_changed(self) -> None:
        """Tell every instance's index of federated intents that a dispatch was received."""
        self.federated_version = await self.fetchval(
            "UPDATE event_head SET federated_version = federated_version + 1"
            " RETURNING federated_version"
        )

    async def execute(self, sql: str, *args: Any) -> str:
        return await self._run(self.conn.execute, sql, args)

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        return await self._run(self.conn.fetch, sql, args)

    async def fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        return await self._run(self.conn.fetchrow, sql, args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        return await self._run(self.conn.fetchval, sql, args)

    async def _run(self, method: Callable[..., Awaitable[T]], sql: str, args: tuple) -> T:
        if sql.lstrip()[:6].upper() != "SELECT":
            self.wrote = True
        try:
            await self.pipeline.flush()  # what was deferred happens before this statement
            return await method(sql, *args)
        except asyncpg.PostgresError:
            self.failed = True  # PostgreSQL aborted the transaction (or the savepoint)
            raise

    async def emit(
        self,
        intent_id: str | None,
        event_type: str,
        actor: str | None,
        payload: dict[str, Any],
        *,
        portfolio_id: str | None = None,
        trace_id: str | None = None,
        parent_event_id: str | None = None,
        touch: bool = True,
        also_set: Sequence[tuple[str, Any]] = (),
        only_if_version: int | None = None,
        becomes: Intent | None = None,
        state_bytes: int = 0,
    ) -> Event:
        """Append an event in this transaction, numbered from the locked `event_head`.
        `touch=False`: the caller sets the intent's `last_activity_at` itself. `also_set`:
        (column, value) pairs of the intent's row written by the same statement, so a
        mutation and its event cost one round trip together, or none when the intent's
        event head is known (`pipeline.py`): then the statement is deferred, and
        `only_if_version` is the version it checks the row still has. `becomes`: the
        intent's whole row after this write, remembered for the next write to it (with
        its state's length as JSON, `state_bytes`: a large one is not)."""
        values = self._event_values(intent_id, event_type, actor, payload, portfolio_id,
                                    trace_id, parent_event_id)  # fmt: skip
        pipelined = self.pipeline.enabled
        if intent_id is None:
            if also_set:
                raise ValueError("also_set needs an intent")
            if pipelined:
                self.wrote = True
                self.pipeline.defer(_INSERT_EVENT, values)
            else:
                await self.execute(_INSERT_EVENT, *values)
            return await self._appended(values, payload, None)
        columns = tuple(column for column, _ in also_set)
        set_values = tuple(value for _, value in also_set)
        head = self.known.seq(intent_id) if pipelined else None
        if head is not None:
            seq = head + 1
            checked = () if only_if_version is None else (only_if_version,)
            sql = _known_intent_event_sql(columns, only_if_version is not None)
            self.wrote = True
            self.pipeline.defer(sql, (*values, touch, seq, *checked, *set_values))
        else:
            sql = _intent_event_sql(columns)
            seq = await self.fetchval(sql, *values, touch, *set_values)
            if seq is None:
                raise NotFound(f"Intent {intent_id} not found")
        self.known.remember(intent_id, seq, becomes, state_bytes)
        return await self._appended(values, payload, seq)

    async def emit_created(
        self, intent_row: Sequence[tuple[str, Any]], event_type: str, actor: str | None,
        payload: dict[str, Any], becomes: Intent, state_bytes: int,
    ) -> Event:  # fmt: skip
        """Insert an intent, `intent_row` as (column, value) pairs with its `id` first, and
        its first event (sequence 1), in one statement (deferred when it may be)."""
        (id_column, intent_id), *_ = intent_row
        assert id_column == "id"
        values = self._event_values(intent_id, event_type, actor, payload, None, None, None)
        sql = _created_intent_event_sql(tuple(column for column, _ in intent_row))
        args = (*values, *(value for _, value in intent_row))
        if self.pipeline.enabled:
            self.wrote = True
            self.pipeline.defer(sql, args)
        else:
            await self.execute(sql, *args)
        self.known.remember(intent_id, 1, becomes, state_bytes)
        return await self._appended(values, payload, 1)

    def known_intent(self, intent_id: str) -> Intent | None:
        """The intent's row as this instance last wrote it, when that is surely still
        true and a write to it may be deferred (`pipeline.py`)."""
        return self.known.intent(intent_id) if self.pipeline.enabled else None

    def _event_values(
        self,
        intent_id: str | None,
        event_type: str,
        actor: str | None,
        payload: dict[str, Any],
        portfolio_id: str | None,
        trace_id: str | None,
        parent_event_id: str | None,
    ) -> tuple[Any, ...]:
        """The event's columns as `_EVENT_VALUES` numbers them, with its global id."""
        return (
            self.head + 1, new_uid(), intent_id, portfolio_id, event_type, actor,
            dumps(payload), self.moment, trace_id, parent_event_id,
        )  # fmt: skip

    async def _appended(
        self, values: tuple[Any, ...], payload: dict[str, Any], seq: int | None
    ) -> Event:
        """The event just inserted from `values` (`_event_values`): the head moves past it
        and the event-appended hooks run."""
        global_id, uid, intent_id, portfolio_id, event_type, actor, _, _, trace_id, parent = values
        self.head = global_id
        event = Event(
            id=uid,
            intent_id=intent_id,
            event_type=event_type,
            actor=actor,
            payload=payload,
            created_at=self.now,
            sequence=seq or 0,
            global_sequence=global_id,
            portfolio_id=portfolio_id,
            trace_id=trace_id,
            parent_event_id=parent,
        )
        self.events.append(event)
        for hook in self.hooks.event_appended:
            await hook(self, event)
        return event


Op = Callable[[Tx], Awaitable[Any]]
Batch = list[tuple[Op, asyncio.Future]]
"""Queued writes and their callers' futures; it may grow until it holds the head lock."""
Outcome = tuple[bool, Any, list[Event]]
"""(succeeded, value or exception, events appended)"""


class _NeedsSavepoints(Exception):
    """An op failed after writing, or a statement failed: only savepoints undo one op."""


class _Stop:
    pass


_STOP = _Stop()


class PostgresCore:
    """The pool and the writer task. Resource mixins build on `_write` and `_read`."""

    def __init__(self, dsn: str, *, readers: int = 2) -> None:
        self.dsn = dsn
        self._reader_count = max(1, readers)
        self._pool: asyncpg.Pool | None = None
        self._writer: PoolConnectionProxy | None = None
        self._queue: asyncio.Queue = asyncio.Queue()
        self._stopping = False
        self._writer_task: asyncio.Task | None = None
        self._listeners: list[CommitListener] = []
        self._feed = CommitFeed(self._listeners)
        self._known = KnownIntents()
        self.hooks = WriteHooks()

    async def open(self) -> None:
        # +1: the writer holds one connection for as long as the store is open.
        pool = await asyncpg.create_pool(
            self.dsn, min_size=1, max_size=self._reader_count + 1, command_timeout=60
        )
        try:
            async with pool.acquire() as conn:
                await migrate(cast(asyncpg.Connection, conn))
                head = await conn.fetchval("SELECT last_id FROM event_head")
            self._writer = await pool.acquire()
            self._pool = pool
            await self._feed.start(self.dsn, head, self._events_after)
        except BaseException:
            self._pool = self._writer = None
            await pool.close()
            raise
        self._queue = asyncio.Queue()
        self._writer_task = asyncio.create_task(self._writer_loop(), name="postgres-writer")

    async def close(self) -> None:
        if self._writer_task is not None:
            self._queue.put_nowait(_STOP)
            await self._writer_task
            self._writer_task = None
        await self._feed.stop()
        if self._pool is not None:
            if self._writer is not None:
                await self._pool.release(self._writer)
                self._writer = None
            await self._pool.close()
            self._pool = None

    def add_commit_listener(self, listener: CommitListener) -> None:
        self._listeners.append(listener)

    async def _write(self, op: Callable[[Tx], Awaitable[T]]) -> T:
        """Queue `op` for the next batch and wait until its transaction has committed.
        `op` may run twice (`_run_batch`): it must change nothing but the database and not
        modify its inputs, so a second run after a rollback does what one would."""
        if self._writer_task is None:
            raise RuntimeError("store is not open")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((op, future))
        return await future

    async def _read(self, fn: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        if self._pool is None:
            raise RuntimeError("store is not open")
        async with self._pool.acquire() as conn:
            return await fn(cast(asyncpg.Connection, conn))  # a proxy of one

    async def _event_rows_after(self, global_sequence: int, limit: int) -> list[asyncpg.Record]:
        return await self.pool.fetch(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE id > $1 ORDER BY id LIMIT $2",
            global_sequence,
            limit,
        )

    async def _events_after(self, global_sequence: int, limit: int) -> list[Event]:
        return [event_from_row(r) for r in await self._event_rows_after(global_sequence, limit)]

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("store is not open")
        return self._pool

    async def _writer_loop(self) -> None:
        self._stopping = False
        while not self._stopping:
            batch: Batch = []
            self._take(await self._queue.get(), batch)
            self._drain(batch)
            if batch:
                await self._commit_batch(batch)

    def _take(self, item: Any, batch: Batch) -> None:
        if item is _STOP:
            self._stopping = True  # finish what is queued before the stop, then leave
        else:
            batch.append(item)

    def _drain(self, batch: Batch) -> None:
        """Move what is queued into `batch`, up to MAX_BATCH writes. Called again once the
        batch holds the head lock (`_run_ops`): writes that arrived while it waited for the
        lock (another instance's batch) or for BEGIN join it, so batches grow with the
        wait instead of each waiting in turn."""
        while len(batch) < MAX_BATCH and not self._queue.empty():
            self._take(self._queue.get_nowait(), batch)

    async def _commit_batch(self, batch: Batch) -> None:
        try:
            outcomes = await self._run_batch(batch)
        except Exception as exc:  # BEGIN, the head lock or COMMIT failed: nothing is durable
            self._rolled_back()
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        committed = [event for ok, _, events in outcomes if ok for event in events]
        if committed:
            await self._feed.own(committed)
        for (_, future), (ok, value, _) in zip(batch, outcomes, strict=True):
            if future.done():  # the caller went away; the write stands regardless
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

    async def _run_batch(self, batch: Batch) -> list[Outcome]:
        """Run `ops` in one transaction; each op's failure is its own.

        Most ops that fail do so before they write (a stale version, a conflict, a missing
        row) and without a failed statement, which leaves the transaction as it was. So ops
        first run without a SAVEPOINT each (two round trips saved per op); only if one
        fails after writing, or on a failed statement (PostgreSQL then aborts the whole
        transaction), is everything rolled back and the batch run again with a savepoint
        per op. Ops may therefore run twice (`_write`)."""
        try:
            return await self._in_transaction(batch, guarded=False)
        except _NeedsSavepoints:
            self._rolled_back()
            return await self._in_transaction(batch, guarded=True)

    async def _in_transaction(self, batch: Batch, *, guarded: bool) -> list[Outcome]:
        """The batch's transaction, by hand rather than `conn.transaction()`, so that its
        end (the head, the notification and COMMIT) is one round trip."""
        conn = await self._writer_connection()
        await conn.execute("BEGIN")
        try:
            outcomes, head, moved = await self._run_ops(conn, batch, guarded=guarded)
            if moved:
                # NOTIFY is delivered at COMMIT, in commit order, to every instance (live.py).
                # The values are integers: no quoting to get wrong.
                await conn.execute(
                    f"UPDATE event_head SET last_id = {int(head)};"
                    f" SELECT pg_notify('{CHANNEL}', '{int(head)}'); COMMIT"
                )
            else:
                await conn.execute("COMMIT")
        except BaseException:
            self._known.forget()
            if not conn.is_closed() and conn.is_in_transaction():
                try:
                    await conn.execute("ROLLBACK")
                except Exception:  # a connection in an unknown state is not used again
                    conn.terminate()
            raise
        self._known.committed(head)
        return outcomes

    async def _run_ops(
        self, conn: asyncpg.Connection, batch: Batch, *, guarded: bool
    ) -> tuple[list[Outcome], int, bool]:
        """Each op in turn inside the open transaction: the outcomes, the new head and
        whether it moved. `guarded`: a SAVEPOINT around each op, so a failing one alone is
        undone."""
        # (federated_version: migration 0004, federation.py)
        head, cache_version, federated_version = cast(
            asyncpg.Record,
            await conn.fetchrow(
                "SELECT last_id, cache_version, federated_version FROM event_head FOR UPDATE"
            ),
        )
        start = head
        since = self._known.stale_since(head)
        if since is not None:  # another instance wrote: which intents (pipeline.py)
            changed = await conn.fetch(
                "SELECT DISTINCT intent_id FROM events WHERE id > $1 AND intent_id IS NOT NULL",
                since,
            )
            self._known.changed(head, (r[0] for r in changed))
        if not guarded:  # a rerun keeps the batch it is rerunning
            self._drain(batch)
        pipeline = Pipeline(conn, enabled=not guarded)
        outcomes: list[Outcome] = []
        for op, _ in batch:
            tx = Tx(conn, self.hooks, head, cache_version, pipeline, self._known, federated_version)
            try:
                if guarded:
                    await conn.execute("SAVEPOINT op")
                value = await op(tx)
            except (asyncpg.InterfaceError, asyncpg.PostgresConnectionError, OSError):
                raise  # the connection is gone: the whole batch fails
            except Exception as exc:
                if not guarded and (tx.wrote or tx.failed):
                    raise _NeedsSavepoints from exc
                if guarded:
                    await conn.execute("ROLLBACK TO SAVEPOINT op; RELEASE SAVEPOINT op")
                    self._rolled_back()
                outcomes.append((False, exc, []))
            else:
                if guarded:
                    await conn.execute("RELEASE SAVEPOINT op")
                head, cache_version = tx.head, tx.cache_version
                federated_version = tx.federated_version
                outcomes.append((True, value, tx.events))
        try:
            await pipeline.flush()
        except asyncpg.PostgresError as exc:  # a deferred write failed: which op's is unknown
            raise _NeedsSavepoints from exc
        return outcomes, head, head != start

    def _rolled_back(self) -> None:
        self._known.forget()
        for hook in self.hooks.rolled_back:
            hook()

    async def _writer_connection(self) -> asyncpg.Connection:  # a proxy of one
        """The writer's connection; after a lost one, a fresh one from the pool (the
        database may be back; if not, this batch fails as the last one did)."""
        conn = self._writer
        if conn is not None and not conn.is_closed():
            return cast(asyncpg.Connection, conn)
        if conn is not None:
            self._writer = None
            try:
                await self.pool.release(conn)
            except Exception:  # a dead connection may refuse even that
                pass
        self._writer = await self.pool.acquire()
        return cast(asyncpg.Connection, self._writer)


async def read_page(
    conn: Any,
    sql: str,
    params: Sequence[Any],
    *,
    offset: int = 0,
    limit: int | None = None,
    max_bytes: int | None = None,
) -> list[Any]:
    """`sql` (no LIMIT of its own) from row `offset`: at most `limit` rows (LIMIT NULL is
    no limit), ending early at about `max_bytes` of text (the SQLite store's rows_within)."""
    n = len(params)
    rows = await conn.fetch(f"{sql} LIMIT ${n + 1} OFFSET ${n + 2}", *params, limit, offset)
    if max_bytes is None or not rows:
        return rows
    return within(rows, len(rows), max_bytes)[0]


OrdKey = Annotated[int, msgspec.Meta(ge=0, le=MAX_INT64)]


def by_ord(kind: str, column: str = "ord") -> KeyColumns:
    """Insertion order: the table's identity column (PostgreSQL has no rowid)."""
    return KeyColumns(kind, (column,), (OrdKey,))


async def read_keyset(
    conn: Any,
    columns: str,
    source: str,
    where: Sequence[str],
    params: Sequence[Any],
    key: KeyColumns,
    *,
    cursor: str | None = None,
    offset: int = 0,
    limit: int | None = None,
    max_bytes: int | None = None,
) -> tuple[list[tuple], bool, str | None]:
    """The SQLite store's `read_keyset` (same cursors, same rules): `where` holds clauses
    numbered `$1..$len(params)`. Rows come back as tuples without the key columns."""
    check_cursor_or_offset(cursor, offset)
    clauses, values = list(where), list(params)
    keys = ", ".join(key.columns)
    if cursor is not None:
        after = decode_cursor(cursor, key.cursor_shape())[1:]
        marks = ", ".join(f"${len(values) + i + 1}" for i in range(len(after)))
        clauses.append(f"({keys}) > ({marks})")
        values.extend(after)
    clause = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    n = len(values)
    found = await conn.fetch(
        f"SELECT {columns}, {keys} FROM {source}{clause} ORDER BY {keys}"
        f" LIMIT ${n + 1} OFFSET ${n + 2}",
        *values,
        None if limit is None else limit + 1,
        offset,
    )
    take = len(found) if limit is None else limit
    rows, more = within(found, take, max_bytes)
    width = len(key.columns)
    next_cursor = None
    if more and rows:
        last = tuple(rows[-1])[-width:]
        next_cursor = encode_cursor(key.kind, *last)
    return [tuple(r)[:-width] for r in rows], more, next_cursor
