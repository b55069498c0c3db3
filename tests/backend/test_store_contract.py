"""The Store contract for intents and the event log, written against `Store` only: every
test runs on each backend in `BACKENDS` (PostgreSQL through the `postgres_url` fixture,
skipped with the reason when no server can be had). The SQLite-specific promises (group
commit, WAL/FULL, migrations, immutability) follow; PostgreSQL's are in
test_postgres_store.py."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable

import pytest

from backend.domain.errors import InvalidInput, NotFound, VersionConflict
from backend.store import Store
from backend.store.intents import IntentFilter
from backend.store.postgres import PostgresStore
from backend.store.sqlite import SqliteStore
from backend.store.sqlite.schema import migration_files
from backend.wire.events import EventCreate
from backend.wire.intents import IntentCreate
from backend.wire.subscriptions import SubscriptionCreate

BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(params=BACKENDS)
def make_store(request, tmp_path) -> Callable[[], Store]:
    """Makes a store on this test's database: another call opens the same data again."""
    if request.param == "sqlite":
        return lambda: SqliteStore(tmp_path / "contract.db", readers=2)
    url = request.getfixturevalue("postgres_url")
    return lambda: PostgresStore(url, readers=2)


@pytest.fixture
async def store(make_store) -> AsyncIterator[Store]:
    store = make_store()
    await store.open()
    try:
        yield store
    finally:
        await store.close()


async def new(store: Store, title: str = "T", actor: str | None = "a", **fields):
    return await store.create_intent(IntentCreate(title=title, **fields), actor)


async def test_create_get_list(store):
    parent = await new(store, "Parent")
    child = await new(store, "Child", parent_intent_id=parent.id, depends_on=[parent.id])
    assert (await store.get_intent(child.id)) == child
    assert child.parent_intent_id == parent.id and child.depends_on == [parent.id]
    assert child.created_by == "a" and child.version == 1
    page = await store.list_intents(IntentFilter(parent_intent_id=parent.id))
    assert page.total == 1 and [i.id for i in page.intents] == [child.id]
    everything = await store.list_intents(IntentFilter(limit=1, offset=1))
    assert everything.total == 2 and [i.id for i in everything.intents] == [parent.id]
    with pytest.raises(NotFound):
        await store.get_intent("missing")
    with pytest.raises(InvalidInput):
        await new(store, "Orphan", parent_intent_id="missing")
    assert (await store.list_intents(IntentFilter())).total == 2


async def test_patch_state_is_compare_and_set(store):
    intent = await new(store, state={"a": 1})
    patched = await store.patch_state(intent.id, 1, [("set", "/b", 2)], "p")
    assert patched.version == 2 and patched.state == {"a": 1, "b": 2}
    with pytest.raises(VersionConflict) as caught:
        await store.patch_state(intent.id, 1, [("set", "/b", 3)], "p")
    assert caught.value.current_version == 2
    with pytest.raises(InvalidInput):
        await store.patch_state(intent.id, 2, [("remove", "/nothing", None)], "p")
    with pytest.raises(NotFound):
        await store.patch_state("missing", 1, [("set", "/b", 3)], "p")
    after = await store.get_intent(intent.id)
    assert after.version == 2 and after.state == {"a": 1, "b": 2}
    log = (await store.list_events(intent.id)).events
    assert [e.event_type for e in log] == ["intent_created", "state_patched"]
    assert log[1].actor == "p" and log[1].payload["version"] == 2


async def test_status_and_agents(store):
    intent = await new(store)
    active = await store.set_status(intent.id, 1, "active", "go", "s")
    assert active.status == "active" and active.version == 2
    with pytest.raises(InvalidInput):
        await store.set_status(intent.id, 2, "draft", None, "s")
    first = await store.assign_agent(intent.id, "w", "worker", "s")
    assert await store.assign_agent(intent.id, "w", "worker", "s") == first
    assert [a.agent_id for a in await store.list_agents(intent.id)] == ["w"]
    await store.unassign_agent(intent.id, "w", "s")
    with pytest.raises(NotFound):
        await store.unassign_agent(intent.id, "w", "s")
    assert await store.list_agents(intent.id) == []
    types = [e.event_type for e in (await store.list_events(intent.id)).events]
    assert types == ["intent_created", "status_changed", "agent_assigned", "agent_unassigned"]


async def test_event_log_paging_and_global_order(store):
    one, two = await new(store, "One"), await new(store, "Two")
    for n in range(5):
        await store.append_event(one.id, EventCreate(event_type="comment", payload={"n": n}), "x")
    await store.append_event(two.id, EventCreate(event_type="comment"), "x")
    with pytest.raises(InvalidInput):
        await store.append_event(one.id, EventCreate(event_type="made_up"), "x")
    with pytest.raises(NotFound):
        await store.append_event("missing", EventCreate(event_type="comment"), "x")
    first = await store.list_events(one.id, limit=4)
    assert [e.sequence for e in first.events] == [1, 2, 3, 4] and first.next_cursor == 4
    rest = await store.list_events(one.id, limit=4, cursor=first.next_cursor)
    assert [e.sequence for e in rest.events] == [5, 6] and rest.next_cursor is None
    everything = await store.events_after(0)
    assert [e.global_sequence for e in everything] == list(range(1, 9))
    assert [e.global_sequence for e in await store.events_after(6, limit=1)] == [7]


async def test_commit_listeners_see_committed_events_in_order(store):
    seen: list[int] = []
    store.add_commit_listener(lambda events: seen.extend(e.global_sequence for e in events))
    intent = await new(store)
    await asyncio.gather(
        *(store.append_event(intent.id, EventCreate(event_type="comment"), "x") for _ in range(20))
    )
    with pytest.raises(VersionConflict):
        await store.patch_state(intent.id, 9, [("set", "/a", 1)], "x")
    assert seen == list(range(1, 22))  # the refused patch emitted nothing


async def test_data_survives_close_and_reopen(store, make_store):
    intent = await new(store, state={"kept": True})
    await store.patch_state(intent.id, 1, [("set", "/more", 1)], "x")
    await store.close()
    reopened = make_store()
    await reopened.open()
    try:
        again = await reopened.get_intent(intent.id)
        assert again.state == {"kept": True, "more": 1} and again.version == 2
        assert len((await reopened.list_events(intent.id)).events) == 2
    finally:
        await reopened.close()
    await store.open()  # the fixture closes it again


# --- SQLite specifics ---------------------------------------------------------------------


@pytest.fixture
async def sqlite_store(tmp_path) -> AsyncIterator[SqliteStore]:
    store = SqliteStore(tmp_path / "s.db")
    await store.open()
    try:
        yield store
    finally:
        await store.close()


async def test_one_failing_write_in_a_batch_fails_alone(sqlite_store):
    intent = await new(sqlite_store)
    results = await asyncio.gather(
        *(sqlite_store.patch_state(intent.id, 1, [("set", f"/k{n}", n)], "x") for n in range(10)),
        *(
            sqlite_store.append_event(intent.id, EventCreate(event_type="comment"), "x")
            for _ in range(5)
        ),
        return_exceptions=True,
    )
    conflicts = [r for r in results if isinstance(r, VersionConflict)]
    assert len(conflicts) == 9
    assert not [r for r in results if isinstance(r, Exception) and r not in conflicts]
    log = (await sqlite_store.list_events(intent.id)).events
    assert [e.sequence for e in log] == list(range(1, 8))
    assert sum(e.event_type == "state_patched" for e in log) == 1


async def test_wal_full_durability_and_migrations(sqlite_store, tmp_path):
    conn = sqlite3.connect(tmp_path / "s.db")
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        last = migration_files()[-1][0]
        assert conn.execute("PRAGMA user_version").fetchone()[0] == last
        numbers = [n for n, _, _ in migration_files()]
        assert numbers == sorted(set(numbers)) and numbers[0] == 1
    finally:
        conn.close()
    # synchronous is per connection: ask the writer itself.
    level = await sqlite_store._write(lambda tx: tx.one("PRAGMA synchronous")[0])
    assert level == 2  # FULL


async def test_events_are_append_only(sqlite_store, tmp_path):
    intent = await new(sqlite_store)

    def tamper(tx):
        tx.execute("UPDATE events SET actor = 'mallory' WHERE intent_id = ?", (intent.id,))

    def erase(tx):
        tx.execute("DELETE FROM events WHERE intent_id = ?", (intent.id,))

    for attempt in (tamper, erase):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            await sqlite_store._write(attempt)
    log = (await sqlite_store.list_events(intent.id)).events
    assert len(log) == 1 and log[0].actor == "a"


async def test_ids_are_time_ordered_uuids(sqlite_store):
    """Version 7 ids: what is made later sorts later, so id indexes grow at their end."""
    made = []
    for _ in range(3):
        intent = await new(sqlite_store)
        event = await sqlite_store.append_event(intent.id, EventCreate(event_type="comment"), "x")
        made += [intent.id, event.id]
        await asyncio.sleep(0.002)  # the next ids fall in a later millisecond
    assert all(uuid.UUID(i).version == 7 for i in made)
    assert [made[n] for n in (0, 2, 4)] == sorted(made[n] for n in (0, 2, 4))
    assert [made[n] for n in (1, 3, 5)] == sorted(made[n] for n in (1, 3, 5))


async def test_an_op_failing_after_it_wrote_fails_alone(sqlite_store):
    """Ops run without a savepoint each until one raises after changing rows: then the batch
    is rolled back and run again with savepoints. What callers get is what committed, and
    caches filled inside the abandoned attempt (the webhook index) are not trusted after it."""
    intent = await new(sqlite_store)

    def wrote_then_failed(tx):
        tx.emit(intent.id, "comment", "x", {"doomed": True})
        raise RuntimeError("failed after writing")

    def comment(n: int):
        return sqlite_store.append_event(
            intent.id, EventCreate(event_type="comment", payload={"n": n}), "x"
        )

    subscription = SubscriptionCreate(intent_id=intent.id, webhook_url="http://127.0.0.1:9/h")
    first, created, second, failed, patched = await asyncio.gather(
        comment(1),  # loads the webhook index: no subscription yet
        sqlite_store.create_subscription(subscription, "x", "whsec_x"),
        comment(2),  # reloads it with the new subscription, then everything is rolled back
        sqlite_store._write(wrote_then_failed),
        sqlite_store.patch_state(intent.id, 1, [("set", "/done", True)], "x"),
        return_exceptions=True,
    )
    assert isinstance(failed, RuntimeError)
    assert not any(isinstance(r, Exception) for r in (first, created, second, patched))
    log = (await sqlite_store.list_events(intent.id)).events
    assert [e.payload for e in log[1:3]] == [{"n": 1}, {"n": 2}]
    assert [e.event_type for e in log[3:]] == ["state_patched"]
    assert log[1:] == [first, second, log[3]]  # returned as committed, in commit order
    assert patched.version == 2 and patched.state == {"done": True}
    deliveries = (await sqlite_store.list_deliveries(created.id)).deliveries
    assert [d.global_sequence for d in deliveries] == [e.global_sequence for e in log[2:]]


async def test_a_transaction_lost_mid_batch_fails_the_whole_batch(sqlite_store):
    """When SQLite ends the transaction itself (an I/O error or a full disk rolls it back),
    no later op may run outside it: every op in the batch fails and nothing is kept."""
    intent = await new(sqlite_store)

    def transaction_lost(tx):
        tx.execute("ROLLBACK")  # what SQLite does on SQLITE_FULL or SQLITE_IOERR
        raise sqlite3.OperationalError("database or disk is full")

    def comment():
        return sqlite_store.append_event(intent.id, EventCreate(event_type="comment"), "x")

    results = await asyncio.gather(
        comment(), sqlite_store._write(transaction_lost), comment(), return_exceptions=True
    )
    assert all(isinstance(r, sqlite3.OperationalError) for r in results), results
    log = (await sqlite_store.list_events(intent.id)).events
    assert [e.event_type for e in log] == ["intent_created"]
