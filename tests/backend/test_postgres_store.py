"""The PostgreSQL store's own promises, beyond the shared contract (test_store_contract.py):
versioned migrations that refuse a newer database, an append-only log, one failing write in
a batch failing alone, and, with two store instances on one database standing in for two
servers, a global sequence that stays gapless and commit-ordered under concurrent writers,
one lease holder at a time, and caches that follow the other instance's changes."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import pytest

from backend.domain.errors import Conflict, VersionConflict
from backend.store.postgres import PostgresStore
from backend.store.postgres.schema import DatabaseTooNew, migration_files
from backend.store.subscriptions import AttemptOutcome
from backend.wire.events import EventCreate
from backend.wire.intents import IntentCreate
from backend.wire.subscriptions import SubscriptionCreate

SECOND = timedelta(seconds=1)


@pytest.fixture
async def pair(postgres_url) -> AsyncIterator[tuple[PostgresStore, PostgresStore]]:
    """Two stores on one database: what two server instances are to it."""
    first, second = PostgresStore(postgres_url), PostgresStore(postgres_url)
    await asyncio.gather(first.open(), second.open())  # both migrate at once: one does it
    try:
        yield first, second
    finally:
        await asyncio.gather(first.close(), second.close())


async def new(store: PostgresStore, title: str = "T") -> str:
    return (await store.create_intent(IntentCreate(title=title), "a")).id


async def test_migrations_are_versioned_and_a_newer_database_is_refused(postgres_url):
    store = PostgresStore(postgres_url)
    await store.open()
    await store.close()
    conn = await asyncpg.connect(postgres_url)
    try:
        applied = [r[0] for r in await conn.fetch("SELECT version FROM schema_migrations")]
        assert applied == [n for n, _, _ in migration_files()]
        await conn.execute("INSERT INTO schema_migrations (version, name) VALUES (9999, 'x')")
    finally:
        await conn.close()
    with pytest.raises(DatabaseTooNew, match="9999"):
        await PostgresStore(postgres_url).open()


async def test_events_are_append_only(pair):
    store, _ = pair
    intent = await new(store)

    async def tamper(tx):
        await tx.execute("UPDATE events SET actor = 'mallory' WHERE intent_id = $1", intent)

    async def erase(tx):
        await tx.execute("DELETE FROM events WHERE intent_id = $1", intent)

    for attempt in (tamper, erase):
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await store._write(attempt)
    log = (await store.list_events(intent)).events
    assert len(log) == 1 and log[0].actor == "a"


async def test_an_op_failing_after_it_wrote_fails_alone_and_leaves_no_gap(pair):
    """Ops run without a savepoint each until one fails after writing or on a failed
    statement: then the batch is rolled back and run again with savepoints. What callers get
    is what committed; the webhook index built inside the abandoned attempt is not trusted;
    the failed ops' numbers are reused."""
    store, _ = pair
    intent = await new(store)

    async def wrote_then_failed(tx):
        await tx.emit(intent, "comment", "x", {"doomed": True})
        raise RuntimeError("failed after writing")

    async def failed_statement(tx):
        await tx.fetchval("SELECT 1 / 0")

    def comment(n: int):
        return store.append_event(intent, EventCreate(event_type="comment", payload={"n": n}), "x")

    subscription = SubscriptionCreate(intent_id=intent, webhook_url="http://127.0.0.1:9/h")
    results = await asyncio.gather(
        store.create_subscription(subscription, "x", "whsec_x"),
        comment(1),  # builds the webhook index with the new subscription, then all is
        store._write(wrote_then_failed),  # rolled back: the next run's subscription differs
        comment(2),
        store.patch_state(intent, 9, [("set", "/x", 1)], "x"),  # a stale version
        store._write(failed_statement),
        comment(3),
        return_exceptions=True,
    )
    created, first, doomed, second, stale, division, third = results
    assert isinstance(doomed, RuntimeError) and isinstance(stale, VersionConflict)
    assert isinstance(division, asyncpg.DivisionByZeroError)
    log = await store.events_after(0)
    assert [e.global_sequence for e in log] == [1, 2, 3, 4]  # no number lost to a failure
    assert [e.sequence for e in log] == [1, 2, 3, 4]
    assert [e.payload for e in log[1:]] == [{"n": 1}, {"n": 2}, {"n": 3}]
    assert log[1:] == [first, second, third]  # returned as committed
    deliveries = (await store.list_deliveries(created.id)).deliveries
    assert [d.global_sequence for d in deliveries] == [2, 3, 4]


async def test_deferred_writes_check_what_they_assume_and_fail_alone(pair):
    """Writes to an intent this instance wrote last are sent without reading it first
    (pipeline.py), assuming nobody changed it since. Changed behind the store's back (SQL
    that moves no event head, which no store write does), the deferred statements fail
    their checks, the batch runs again with savepoints, and each write gets what a read
    would have given it: the stale patch its conflict, the append the next free sequence;
    the batch's other writes commit, and no number is lost."""
    store, _ = pair
    stale, moved, fresh = [await new(store, title) for title in ("stale", "moved", "fresh")]
    await store.pool.execute("UPDATE intents SET version = 7 WHERE id = $1", stale)
    await store.pool.execute("UPDATE intents SET last_event_seq = 5 WHERE id = $1", moved)
    patched, conflict, created = await asyncio.gather(  # one batch
        store.patch_state(fresh, 1, [("set", "/x", 1)], "a"),
        store.patch_state(stale, 1, [("set", "/x", 1)], "a"),
        store.create_intent(IntentCreate(title="new"), "a"),
        return_exceptions=True,
    )
    assert isinstance(conflict, VersionConflict) and conflict.current_version == 7
    assert patched.version == 2 and patched.state == {"x": 1}
    appended, comment = await asyncio.gather(  # another: each check alone must hold
        store.append_event(moved, EventCreate(event_type="comment"), "a"),
        store.append_event(fresh, EventCreate(event_type="comment"), "a"),
    )
    assert appended.sequence == 6 and comment.sequence == 3
    assert (await store.get_intent(stale)).state == {}
    assert (await store.get_intent(fresh)).version == 2
    assert [e.global_sequence for e in await store.events_after(0)] == list(range(1, 8))
    assert (await store.get_intent(created.id)) == created


async def test_a_deferred_create_postgresql_refuses_fails_alone(pair):
    """Creates are deferred and sent together; one PostgreSQL refuses (text cannot hold a
    NUL) fails with PostgreSQL's error, and the others of its batch commit, numbered
    without a gap."""
    store, _ = pair
    results = await asyncio.gather(
        *(store.create_intent(IntentCreate(title=t), "a") for t in ("one", "bad\x00", "two")),
        return_exceptions=True,
    )
    one, bad, two = results
    assert isinstance(bad, asyncpg.CharacterNotInRepertoireError)
    assert [e.intent_id for e in await store.events_after(0)] == [one.id, two.id]
    assert [e.global_sequence for e in await store.events_after(0)] == [1, 2]


async def test_what_an_instance_wrote_last_gives_way_to_another_instances_writes(pair):
    """A writes an intent last; B leases a scope of it: A's next patch into that scope is
    refused, not sent on what A remembered (no lease then), and A's next event takes the
    sequence after B's."""
    a, b = pair
    intent = await new(a)
    await a.patch_state(intent, 1, [("set", "/x", 1)], "a")
    await b.acquire_lease(intent, "x", "b", 60)
    with pytest.raises(Conflict, match="lease"):
        await a.patch_state(intent, 2, [("set", "/x", 2)], "a")
    comment = await a.append_event(intent, EventCreate(event_type="comment"), "a")
    assert comment.sequence == 4  # created, patched, leased, this
    assert (await b.get_intent(intent)).state == {"x": 1}


async def test_global_sequence_is_gapless_and_commit_ordered_across_instances(pair):
    """Writers on both instances at once (some of their writes refused), and a reader that
    follows the log by "events after my cursor": every read continues exactly where the
    last one ended (a later-committed lower id would show up as a gap or a repeat), and in
    the end it has seen every event once, in order."""
    stores = pair
    intents = [await new(stores[n % 2], f"I{n}") for n in range(4)]
    writers, per_writer = 8, 25
    done = asyncio.Event()

    async def writer(w: int) -> int:
        rng = random.Random(w)
        written = 0
        for n in range(per_writer):
            store, intent = stores[(w + n) % 2], rng.choice(intents)
            if n % 5 == 4:
                with pytest.raises(VersionConflict):  # rolled back: must leave no gap
                    await store.patch_state(intent, 10**6, [("set", "/x", n)], f"w{w}")
                continue
            await store.append_event(intent, EventCreate(event_type="comment"), f"w{w}")
            written += 1
        return written

    seen: list[int] = []

    async def reader() -> None:
        cursor = 0
        while True:
            finished = done.is_set()  # read once more after the writers are done
            batch = await stores[1].events_after(cursor, limit=7)
            ids = [e.global_sequence for e in batch]
            assert ids == list(range(cursor + 1, cursor + 1 + len(ids))), (cursor, ids)
            seen.extend(ids)
            if ids:
                cursor = ids[-1]
            elif finished:
                return

    follow = asyncio.create_task(reader())
    counts = await asyncio.gather(*(writer(w) for w in range(writers)))
    done.set()
    await follow
    total = len(intents) + sum(counts)
    assert seen == list(range(1, total + 1))
    assert await stores[0].latest_global_sequence() == total
    for intent in intents:  # the per-intent sequences are gapless too
        log = (await stores[0].list_events(intent, limit=1000)).events
        assert [e.sequence for e in log] == list(range(1, len(log) + 1))


async def test_one_lease_holder_at_a_time_across_instances(pair):
    """20 agents race for one scope through alternating instances, each releasing what it
    gets; replaying the log, the scope never has two holders."""
    stores = pair
    intent = await new(stores[0])

    async def agent(n: int) -> int:
        held = 0
        for attempt in range(5):
            store = stores[(n + attempt) % 2]
            try:
                lease = await store.acquire_lease(intent, "work", f"agent-{n}", 60)
            except Conflict:
                await asyncio.sleep(0)
                continue
            held += 1
            await stores[(n + attempt + 1) % 2].release_lease(intent, lease.id, f"agent-{n}")
        return held

    grants = sum(await asyncio.gather(*(agent(n) for n in range(20))))
    assert grants >= 1
    holder = None
    log = (await stores[1].list_events(intent, limit=1000)).events
    for event in log:
        if event.event_type == "lease_acquired":
            assert holder is None, f"{event.payload['agent_id']} acquired while {holder} held"
            holder = event.payload["agent_id"]
        elif event.event_type == "lease_released":
            assert holder == event.payload["agent_id"]
            holder = None
    assert sum(e.event_type == "lease_acquired" for e in log) == grants


async def test_webhook_index_follows_subscriptions_made_on_the_other_instance(pair):
    first, second = pair
    intent = await new(first)
    await second.append_event(intent, EventCreate(event_type="comment"), "x")  # caches none
    made = await first.create_subscription(
        SubscriptionCreate(intent_id=intent, webhook_url="http://127.0.0.1:9/h"), "x", "whsec"
    )
    event = await second.append_event(intent, EventCreate(event_type="comment"), "x")
    deliveries = (await first.list_deliveries(made.id)).deliveries
    assert [d.global_sequence for d in deliveries] == [event.global_sequence]
    await second.delete_subscription(made.id)
    await first.append_event(intent, EventCreate(event_type="comment"), "x")
    conn = await asyncpg.connect(first.dsn)
    try:
        assert await conn.fetchval("SELECT COUNT(*) FROM webhook_deliveries") == 0
    finally:
        await conn.close()


async def test_commit_listeners_get_every_instances_events_once_in_order(pair):
    """LISTEN/NOTIFY wakes an instance for what others committed; the events come from the
    log, so the listener of one instance sees the whole server's log in order."""
    first, second = pair
    seen: list[int] = []
    intents = [await new(first, "A"), await new(second, "B")]
    expected = 2 + 2 * 4 * 10
    complete = asyncio.Event()

    def listen(events):
        seen.extend(e.global_sequence for e in events)
        if len(seen) >= expected - 2:
            complete.set()

    second.add_commit_listener(listen)

    async def writer(store: PostgresStore, intent: str) -> None:
        for _ in range(10):
            await store.append_event(intent, EventCreate(event_type="comment"), "w")

    await asyncio.gather(
        *(writer(store, intent) for store in pair for intent in intents for _ in range(2))
    )
    await asyncio.wait_for(complete.wait(), 10)
    assert seen == list(range(3, expected + 1))


async def pending_deliveries(store: PostgresStore, count: int) -> list[int]:
    """A webhook subscription (to a port nobody answers) and `count` events for it: the
    global sequences of `count` pending deliveries."""
    intent = await new(store)
    await store.create_subscription(
        SubscriptionCreate(intent_id=intent, webhook_url="http://127.0.0.1:9/h"), "x", "s"
    )
    return [
        (await store.append_event(intent, EventCreate(event_type="comment"), "x")).global_sequence
        for _ in range(count)
    ]


def sequences(due) -> list[int]:
    return [d.event.global_sequence for d in due]


async def test_every_instance_claims_its_own_deliveries(pair):
    """Row claims (claims.py): two instances asking at once get different deliveries, each
    gets its own claims back (as pending rows on SQLite) but never the other's, and a
    retry is anyone's again."""
    first, second = pair
    events = await pending_deliveries(first, 6)
    later = time.time() + 3600  # everything pending is due by then
    mine, theirs = await asyncio.gather(
        first.due_deliveries(later, 3), second.due_deliveries(later, 10)
    )
    assert len(mine) <= 3 and sorted(sequences(mine) + sequences(theirs)) == events
    assert not set(sequences(mine)) & set(sequences(theirs))
    assert sequences(await first.due_deliveries(later, 10)) == sequences(mine)
    assert sequences(await second.due_deliveries(later, 10)) == sequences(theirs)
    retried = (mine or theirs)[0]
    owner, other = (first, second) if mine else (second, first)
    await owner.record_attempt(
        retried.id,
        AttemptOutcome(
            started_at="2026-01-01T00:00:00+00:00",
            duration_ms=1.0,
            status_code=503,
            error="HTTP 503",
            result="retry",
            next_attempt_at=time.time(),
        ),
    )
    assert retried.event.global_sequence in sequences(await other.due_deliveries(later, 10))


async def test_a_live_instance_keeps_its_claims_and_hands_them_over_when_it_stops(
    postgres_url,
):
    """Claims outlive their first deadline while their instance lives (renewed); a store
    that closes releases them and the other sends them at once."""
    first = PostgresStore(postgres_url, claim_seconds=0.6)
    second = PostgresStore(postgres_url, claim_seconds=0.6)
    await first.open()
    await second.open()
    try:
        events = await pending_deliveries(first, 2)
        later = time.time() + 3600
        assert sequences(await first.due_deliveries(later, 10)) == events
        conn = await asyncpg.connect(postgres_url)
        try:
            first_deadline = await conn.fetchval(
                "SELECT MIN(claimed_until) FROM webhook_deliveries"
            )
            # Until the database's clock is two claim times past the first deadline, the
            # claims stay first's (renewed).
            while await conn.fetchval(
                "SELECT clock_timestamp() < $1", first_deadline + 2 * 0.6 * SECOND
            ):
                assert await second.due_deliveries(later, 10) == []
                await asyncio.sleep(0.05)
        finally:
            await conn.close()
        assert await second.next_delivery_due() is None
        await first.close()
        assert sequences(await second.due_deliveries(later, 10)) == events
    finally:
        await first.close()
        await second.close()


async def test_the_commit_feed_survives_losing_its_listen_connection(pair):
    first, second = pair
    seen: list[str] = []
    second.add_commit_listener(lambda events: seen.extend(e.intent_id or "" for e in events))
    conn = await asyncpg.connect(first.dsn)
    try:
        listening = second._feed._conn
        assert listening is not None
        await conn.execute("SELECT pg_terminate_backend($1)", listening.get_server_pid())
    finally:
        await conn.close()
    intent = await new(first, "while B was not listening")
    deadline = time.monotonic() + 15
    while intent not in seen:
        assert time.monotonic() < deadline, "B never heard of the intent"
        await asyncio.sleep(0.05)
    assert seen == [intent]


async def test_intent_counts_follow_status_changes_and_deletes_in_sql(postgres_url):
    """The trigger keeps `intent_counts` true for any writer, the API or plain SQL; the
    trigram indexes exist where pg_trgm could be had (here: the CI machine's PostgreSQL)."""
    store = PostgresStore(postgres_url)
    await store.open()
    try:
        ids = [await new(store, f"count {n}") for n in range(3)]
        conn = await asyncpg.connect(postgres_url)
        try:

            async def counts() -> dict[str, int]:
                real = dict(await conn.fetch("SELECT status, COUNT(*) FROM intents GROUP BY 1"))
                kept = await store.intent_counts()
                assert kept.by_status == real and kept.total == sum(real.values())
                return kept.by_status

            assert await counts() == {"draft": 3}
            await conn.execute("UPDATE intents SET status = 'active' WHERE id = $1", ids[0])
            await conn.execute("UPDATE intents SET title = 'renamed' WHERE id = $1", ids[1])
            assert await counts() == {"draft": 2, "active": 1}
            await conn.execute(
                "INSERT INTO intents (id, title, status, created_at, updated_at)"
                " VALUES ('by-sql', 't', 'blocked', now(), now())"
            )
            assert await counts() == {"draft": 2, "active": 1, "blocked": 1}
            await conn.execute("DELETE FROM intents WHERE id = 'by-sql'")
            assert await counts() == {"draft": 2, "active": 1}
            indexes = {
                r[0]
                for r in await conn.fetch(
                    "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
                )
            }
            has_trgm = await conn.fetchval("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
            if has_trgm:
                assert {"intents_title_trgm", "intents_description_trgm"} <= indexes
        finally:
            await conn.close()
    finally:
        await store.close()
