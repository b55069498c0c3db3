"""SQLite plumbing: one group-commit writer, a few readers, and the transaction handle `Tx`.

Every aiosqlite await is a hop to the connection's thread (20-130 µs). So a write is a plain
function `op(tx)` that runs *inside* the writer thread, and the writer runs a whole batch of
queued ops in one hop: BEGIN IMMEDIATE, the ops, COMMIT; a failing op changes nothing and
fails only its own caller (`_run_batch`). Reads likewise run as one function per hop on
a reader connection. Committed events are handed to listeners in commit order.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar

import aiosqlite
import msgspec

from ...domain.clock import now_iso
from ...private_files import create_private_file, make_private_dirs, restrict_to_owner
from ...wire.events import Event
from ...wire.limits import MAX_INT64
from ..events import CommitListener
from ..keyset import KeyColumns, check_cursor_or_offset, decode_cursor, encode_cursor
from .schema import migrate

T = TypeVar("T")

MAX_BATCH = 256
# The writer checkpoints the WAL after a COMMIT once it holds this many pages (SQLite's
# default is 1000). Hot pages (the intent row, index leaves) are written to the WAL again by
# every batch, and a checkpoint copies each page once however often it was rewritten: fewer,
# larger checkpoints copy far fewer pages per write. The WAL may grow to ~40 MB in between.
WAL_AUTOCHECKPOINT_PAGES = 10000
# The writer's page cache (negative: KiB; SQLite's default is 2 MB), so index pages the
# writes keep coming back to are not read again from the file.
WRITER_CACHE_KIB = -32000

_json_encode = msgspec.json.Encoder().encode
_json_decode = msgspec.json.decode


def new_uid() -> str:
    """A time-ordered UUID (version 7, RFC 9562): 48 bits of Unix milliseconds, then 74
    random bits. Ids made close in time sort together, so each index on an id column grows
    at its right edge: a batch dirties a few pages there instead of one random page per
    row, and the WAL and checkpoints copy far fewer pages (bench/README.md: -13% CPU per
    lease cycle against random version-4 ids)."""
    raw = bytearray((time.time_ns() // 1_000_000).to_bytes(6, "big") + os.urandom(10))
    raw[6] = (raw[6] & 0x0F) | 0x70
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_is_str = str.__instancecheck__
_SIZE_CHUNK = 16
RowSize = Callable[[Sequence[Any]], int]


def text_size(row: Sequence[Any]) -> int:
    """The length of a row's text values, at C speed (a generator with a type test per value
    cost ~4 us a row: listing 100 events took 0.4 ms longer)."""
    return len("".join(filter(_is_str, row)))


def rows_within(
    rows: Iterable[Sequence[Any]],
    limit: int,
    max_bytes: int | None,
    size: RowSize = text_size,
) -> tuple[list[Any], bool]:
    """Up to `limit` rows from a cursor, stopping before the row that would take their size
    past `max_bytes` (the first row is always taken), and whether a row was left over. Rows
    are pulled one by one, so a page of large rows is never read whole. `size` stands in for
    a row's encoded JSON size: its text by default; a list whose rows have one large column
    (an event's payload) measures just that, which is cheaper."""
    source = iter(rows)
    if max_bytes is None:
        taken = list(itertools.islice(source, limit))
        return taken, next(source, None) is not None
    taken = []
    used = 0
    for row in source:
        if len(taken) >= limit:
            return taken, True
        used += size(row)
        if taken and used > max_bytes:
            return taken, True
        taken.append(row)
    return taken, False


def read_page(
    conn: sqlite3.Connection,
    sql: str,
    params: Sequence[Any],
    *,
    offset: int = 0,
    limit: int | None = None,
    max_bytes: int | None = None,
) -> list[Any]:
    """`sql` (no LIMIT of its own) from row `offset`: at most `limit` rows, ending early at
    about `max_bytes` of text (see rows_within)."""
    cursor = conn.execute(
        f"{sql} LIMIT ? OFFSET ?", [*params, -1 if limit is None else limit, offset]
    )
    rows, _ = rows_within(cursor, MAX_ROWS if limit is None else limit, max_bytes)
    cursor.close()
    return rows


MAX_ROWS = 2**62


RowidKey = Annotated[int, msgspec.Meta(ge=0, le=MAX_INT64)]
TimeKey = Annotated[str, msgspec.Meta(max_length=64)]


def by_rowid(kind: str, rowid: str = "rowid") -> KeyColumns:
    """Insertion order: the rowid, which every index of the table carries."""
    return KeyColumns(kind, (rowid,), (RowidKey,))


def read_keyset(
    conn: sqlite3.Connection,
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
) -> tuple[list[Any], bool, str | None]:
    """`SELECT columns FROM source WHERE where` in `key` order, from a cursor (the rows
    after it, found through the index) or from `offset`: at most `limit` rows, ending
    early at about `max_bytes` of text (see rows_within); whether more follow; the next
    page's cursor. One query: `limit + 1` rows tell whether there are more."""
    check_cursor_or_offset(cursor, offset)
    clauses, values = list(where), list(params)
    keys = ", ".join(key.columns)
    if cursor is not None:
        after = decode_cursor(cursor, key.cursor_shape())[1:]
        clauses.append(f"({keys}) > ({', '.join('?' * len(after))})")
        values.extend(after)
    clause = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    take = MAX_ROWS if limit is None else limit
    found = conn.execute(
        f"SELECT {columns}, {keys} FROM {source}{clause} ORDER BY {keys} LIMIT ? OFFSET ?",
        [*values, -1 if limit is None else limit + 1, offset],
    )
    rows, more = rows_within(found, take, max_bytes)
    found.close()
    width = len(key.columns)
    next_cursor = encode_cursor(key.kind, *rows[-1][-width:]) if more and rows else None
    return [r[:-width] for r in rows], more, next_cursor


def dumps(value: Any) -> str:
    return _json_encode(value).decode()


def loads(text: str | None) -> Any:
    return None if text is None else _json_decode(text)


async def run_in_connection(connection: aiosqlite.Connection, fn: Callable[..., T]) -> T:
    """Run `fn(sqlite3_connection)` in the connection's own thread: one hop, not one per call.

    aiosqlite has no public API for this; `_execute` and `_conn` are the hooks its own
    methods use. Kept in this one place so a change in aiosqlite touches one function.
    """
    return await connection._execute(fn, connection._conn)


EVENT_COLUMNS = (
    "id, uid, intent_id, portfolio_id, seq, event_type, actor, payload, created_at,"
    " trace_id, parent_event_id"
)
_EVENT_PAYLOAD = 7
_EVENT_CAPPED_FIELDS_BYTES = 1024  # ids, type, actor, times: each capped on the way in


def event_row_size(row: Sequence[Any]) -> int:
    """An event row's size for the response budget: its payload (client JSON, the only
    field that can be large) and a bound for the capped fields."""
    return _EVENT_CAPPED_FIELDS_BYTES + len(row[_EVENT_PAYLOAD] or "")


def event_from_row(row: sqlite3.Row | tuple) -> Event:
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
        created_at=created_at,
        sequence=seq or 0,
        global_sequence=global_seq,
        portfolio_id=portfolio_id,
        trace_id=trace_id,
        parent_event_id=parent_event_id,
    )


READ_CACHE_ENTRIES = 64
READ_CACHE_TEXT_BYTES = 4 * 1_048_576
"""Per reader connection: at most this many results, holding this much row text."""
READ_CACHE_ASKED = READ_CACHE_ENTRIES
"""Keys remembered as asked once; a result is kept only when its key is asked again while
remembered. As many as are kept: a round of more distinct pages than that is never kept,
so it never evicts one page after another."""


class ReadCache:
    """Results of reads on one reader connection, each kept with the connection's
    `PRAGMA data_version` from just before it was read. That number changes whenever any
    other connection (our writer, another process) commits, so a result is answered again
    only while nothing at all was committed since it was read: never stale, even right
    after a write is acknowledged (the writer commits before it answers).

    A result is kept only for a key asked before (a console polling its first page), not
    for each of many pages read once (a scan): keeping and evicting each of those added
    ~75 us to every read of 50 intents (bench/README.md). Used only from its connection's
    own thread, so it needs no lock."""

    __slots__ = ("_asked", "_entries", "_held")

    def __init__(self) -> None:
        self._entries: OrderedDict[Hashable, tuple[int, Any, int]] = OrderedDict()
        self._asked: OrderedDict[Hashable, None] = OrderedDict()
        self._held = 0

    def read(
        self,
        conn: sqlite3.Connection,
        key: Hashable,
        fn: Callable[[sqlite3.Connection], tuple[T, Callable[[], int]]],
    ) -> T:
        """`fn(conn)` returns the result and how to weigh it: the size of the row text it
        was built from, asked only if it is kept."""
        version = conn.execute("PRAGMA data_version").fetchone()[0]
        hit = self._entries.get(key)
        if hit is not None and hit[0] == version:
            self._entries.move_to_end(key)
            return hit[1]
        value, weigh = fn(conn)  # read after `version`: a commit in between only makes
        if hit is not None:  # this entry older than its data, never newer
            del self._entries[key]
            self._held -= hit[2]
        elif key not in self._asked:
            self._asked[key] = None
            if len(self._asked) > READ_CACHE_ASKED:
                self._asked.popitem(last=False)
            return value
        size = weigh()
        if size <= READ_CACHE_TEXT_BYTES:
            self._entries[key] = (version, value, size)
            self._held += size
            while len(self._entries) > READ_CACHE_ENTRIES or self._held > READ_CACHE_TEXT_BYTES:
                _, (_, _, dropped) = self._entries.popitem(last=False)
                self._held -= dropped
        return value


def _prepare_private_database(path: Path) -> None:
    """The database holds webhook signing secrets: owner-only. SQLite gives the -wal and
    -shm files the main file's permission bits, so the main file is created 0600 first (an
    empty file is a valid new database); files left wider by an earlier version are
    narrowed."""
    make_private_dirs(path.parent)
    if not create_private_file(path):
        for suffix in ("", "-wal", "-shm"):
            restrict_to_owner(path.with_name(path.name + suffix))


StateGuard = Callable[["Tx", str, list[str], str | None], None]
StatusHook = Callable[["Tx", str, str, str, str | None], None]
EventHook = Callable[["Tx", Event], None]
EventGuard = Callable[["Tx", str, str, str | None], None]


class WriteHooks:
    """Rules of one feature that run inside another feature's write transaction. The store
    that owns the writer fills them in (`SqliteStore.__init__` lists every one), so each
    call path can be followed from there; hooks run in the writer thread."""

    __slots__ = (
        "event_appended",
        "event_logging",
        "rolled_back",
        "state_patching",
        "status_changed",
    )

    def __init__(self) -> None:
        self.event_logging: list[EventGuard] = []
        """`guard(tx, intent_id, event_type, actor)` before a client's own event (the events
        API, not the events other changes emit) is appended; raises to refuse it."""
        self.state_patching: list[StateGuard] = []
        """`guard(tx, intent_id, paths, actor)` before a state patch is written; raises to
        refuse it."""
        self.status_changed: list[StatusHook] = []
        """`hook(tx, intent_id, old_status, new_status, actor)` after a status change."""
        self.event_appended: list[EventHook] = []
        """`hook(tx, event)` right after each event is inserted. Runs for every event: must
        be cheap when it has nothing to do. Raising fails the op."""
        self.rolled_back: list[Callable[[], None]] = []
        """After changes were rolled back (a whole batch, or one op's savepoint): a cache
        filled inside the transaction may hold what never committed."""


class Tx:
    """What an op sees: the writer connection inside an open transaction, `emit`, and the
    store's write hooks."""

    __slots__ = ("conn", "events", "hooks", "now")

    def __init__(self, conn: sqlite3.Connection, hooks: WriteHooks) -> None:
        self.conn = conn
        self.hooks = hooks
        self.now = now_iso()
        self.events: list[Event] = []

    def execute(self, sql: str, params: tuple | list | dict = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, params)

    def one(self, sql: str, params: tuple | list | dict = ()) -> tuple | None:
        return self.conn.execute(sql, params).fetchone()

    def row(self, sql: str, params: tuple | list | dict = ()) -> tuple:
        """The first row of a query that always has one (an aggregate, a row just written)."""
        found = self.conn.execute(sql, params).fetchone()
        if found is None:
            raise LookupError(f"no row for {sql!r}")
        return found

    def emit(
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
    ) -> Event:
        """Append an event in this transaction. Global ids come from the single writer in
        commit order, so the global sequence has no gaps and never goes backwards.
        `touch=False`: the caller already set the intent's `last_activity_at` to `now`."""
        seq = None
        if intent_id is not None:
            seq = self.row(
                "SELECT COALESCE(MAX(seq), 0) + 1 FROM events WHERE intent_id = ?", (intent_id,)
            )[0]
            if touch:
                self.conn.execute(
                    "UPDATE intents SET last_activity_at = ? WHERE id = ?", (self.now, intent_id)
                )
        uid = new_uid()
        cursor = self.conn.execute(
            "INSERT INTO events (uid, intent_id, portfolio_id, seq, event_type, actor, payload,"
            " created_at, trace_id, parent_event_id) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                uid,
                intent_id,
                portfolio_id,
                seq,
                event_type,
                actor,
                dumps(payload),
                self.now,
                trace_id,
                parent_event_id,
            ),
        )
        event = Event(
            id=uid,
            intent_id=intent_id,
            event_type=event_type,
            actor=actor,
            payload=payload,
            created_at=self.now,
            sequence=seq or 0,
            global_sequence=cursor.lastrowid or 0,  # always set by the INSERT above
            portfolio_id=portfolio_id,
            trace_id=trace_id,
            parent_event_id=parent_event_id,
        )
        self.events.append(event)
        for hook in self.hooks.event_appended:
            hook(self, event)
        return event


class _Stop:
    pass


_STOP = _Stop()


class SqliteCore:
    """Connections and the writer task. Resource mixins build on `_write` and `_read`."""

    def __init__(self, path: str | Path, *, readers: int = 2) -> None:
        self.path = str(path)
        self._reader_count = max(1, readers)
        self._writer: aiosqlite.Connection | None = None
        self._readers: list[aiosqlite.Connection] = []
        self._reader_cycle: itertools.cycle | None = None
        self._read_caches: dict[aiosqlite.Connection, ReadCache] = {}
        self._queue: asyncio.Queue = asyncio.Queue()
        self._writer_task: asyncio.Task | None = None
        self._listeners: list[CommitListener] = []
        self.hooks = WriteHooks()

    async def open(self) -> None:
        if self.path != ":memory:":
            _prepare_private_database(Path(self.path))
        self._writer = await aiosqlite.connect(self.path, isolation_level=None)
        try:
            await run_in_connection(self._writer, _configure_writer)
            for _ in range(self._reader_count):
                reader = await aiosqlite.connect(self.path, isolation_level=None)
                self._readers.append(reader)
                await run_in_connection(reader, _configure_reader)
        except BaseException:
            # aiosqlite's connection threads are not daemons: left open, they keep a server
            # that failed to start (e.g. not a database) from ever exiting.
            for conn in (*self._readers, self._writer):
                await conn.close()
            self._readers.clear()
            self._writer = None
            raise
        self._reader_cycle = itertools.cycle(self._readers)
        self._read_caches = {reader: ReadCache() for reader in self._readers}
        self._queue = asyncio.Queue()
        self._writer_task = asyncio.create_task(self._writer_loop(), name="sqlite-writer")

    async def close(self) -> None:
        if self._writer_task is not None:
            self._queue.put_nowait(_STOP)
            await self._writer_task
            self._writer_task = None
        for reader in self._readers:
            await reader.close()
        self._readers.clear()
        self._read_caches.clear()
        if self._writer is not None:
            await run_in_connection(
                self._writer, lambda c: c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            )
            await self._writer.close()
            self._writer = None

    def add_commit_listener(self, listener: CommitListener) -> None:
        self._listeners.append(listener)

    async def _write(self, op: Callable[[Tx], T]) -> T:
        """Queue `op` for the next batch and wait until its transaction is durable.

        `op` may run twice (`_run_batch`): it must change nothing but the database and
        must not modify its inputs, so a second run after a rollback does what one would."""
        if self._writer_task is None:
            raise RuntimeError("store is not open")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((op, future))
        return await future

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._reader_cycle is None:
            raise RuntimeError("store is not open")
        return await run_in_connection(next(self._reader_cycle), fn)

    async def _read_cached(
        self, key: Hashable, fn: Callable[[sqlite3.Connection], tuple[T, Callable[[], int]]]
    ) -> T:
        """Like `_read`, answered from the reader's ReadCache while nothing was committed
        since `key` was read there. `fn` returns (result, a function giving the size of
        its row text); results are shared between callers, who must not modify them."""
        if self._reader_cycle is None:
            raise RuntimeError("store is not open")
        reader = next(self._reader_cycle)
        cache = self._read_caches[reader]
        return await run_in_connection(reader, lambda conn: cache.read(conn, key, fn))

    async def _writer_loop(self) -> None:
        stopping = False
        while not stopping:
            item = await self._queue.get()
            batch = []
            while True:
                if item is _STOP:
                    stopping = True  # finish what is queued before the stop, then leave
                else:
                    batch.append(item)
                if len(batch) >= MAX_BATCH or self._queue.empty():
                    break
                item = self._queue.get_nowait()
            if batch:
                await self._commit_batch(batch)

    async def _commit_batch(self, batch: list[tuple[Callable[[Tx], Any], asyncio.Future]]) -> None:
        ops = [op for op, _ in batch]
        writer = self._writer
        assert writer is not None  # the writer loop runs between open() and close()
        try:
            outcomes = await run_in_connection(writer, lambda c: _run_batch(c, ops, self.hooks))
        except Exception as exc:  # BEGIN or COMMIT failed: nothing in the batch is durable
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        committed = [event for ok, _, events in outcomes if ok for event in events]
        if committed:
            for listener in self._listeners:
                listener(committed)
        for (_, future), (ok, value, _) in zip(batch, outcomes, strict=True):
            if future.done():  # the caller went away; the write stands regardless
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)


class _WroteThenFailed(Exception):
    """An op raised after it had changed rows: only a savepoint could undo it alone."""


def _run_batch(conn: sqlite3.Connection, ops: list[Callable[[Tx], Any]], hooks: WriteHooks):
    """Run `ops` in one transaction; each op's failure is its own.

    Almost every op that fails does so before it writes (a stale version, a conflict, a
    missing row), and a statement that fails undoes itself. So ops first run without a
    SAVEPOINT each (they cost ~7 us per op, a tenth of a lease write): an op that raised
    with `total_changes` unmoved left nothing to undo. Only if one raised after changing
    rows is the transaction rolled back and the batch run again with a savepoint per op.
    """
    try:
        return _in_transaction(conn, hooks, lambda: _run_ops_unguarded(conn, ops, hooks))
    except _WroteThenFailed:
        return _in_transaction(conn, hooks, lambda: _run_ops_with_savepoints(conn, ops, hooks))


def _in_transaction(conn: sqlite3.Connection, hooks: WriteHooks, run: Callable[[], T]) -> T:
    conn.execute("BEGIN IMMEDIATE")
    try:
        outcomes = run()
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        _rolled_back(hooks)
        raise
    return outcomes


def _rolled_back(hooks: WriteHooks) -> None:
    for hook in hooks.rolled_back:
        hook()


def _run_ops_unguarded(conn: sqlite3.Connection, ops: list[Callable[[Tx], Any]], hooks: WriteHooks):
    outcomes: list[tuple[bool, Any, list[Event]]] = []
    for op in ops:
        changes = conn.total_changes
        tx = Tx(conn, hooks)
        try:
            value = op(tx)
        except Exception as exc:
            if not conn.in_transaction:
                raise  # SQLite ended the transaction itself (I/O error, disk full): all failed
            if conn.total_changes != changes:
                raise _WroteThenFailed from exc
            outcomes.append((False, exc, []))
        else:
            outcomes.append((True, value, tx.events))
    return outcomes


def _run_ops_with_savepoints(
    conn: sqlite3.Connection, ops: list[Callable[[Tx], Any]], hooks: WriteHooks
):
    outcomes: list[tuple[bool, Any, list[Event]]] = []
    for op in ops:
        conn.execute("SAVEPOINT op")
        tx = Tx(conn, hooks)
        try:
            value = op(tx)
        except Exception as exc:
            conn.execute("ROLLBACK TO op")
            conn.execute("RELEASE op")
            _rolled_back(hooks)
            outcomes.append((False, exc, []))
        else:
            conn.execute("RELEASE op")
            outcomes.append((True, value, tx.events))
    return outcomes


def _configure_writer(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
    conn.execute(f"PRAGMA cache_size={WRITER_CACHE_KIB}")
    conn.execute("PRAGMA busy_timeout=5000")
    conn.execute("PRAGMA foreign_keys=ON")
    migrate(conn)


def _configure_reader(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA busy_timeout=5000")
    conn.execute("PRAGMA query_only=ON")
