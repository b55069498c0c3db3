"""A background loop woken and cancelled in the same loop turn must stop.

`asyncio.wait_for` on Python 3.11 lost such a cancellation: the webhook worker (woken by
every finished attempt) went on running after the server's shutdown cancelled it, so the
shutdown hung and a stopped server kept sending (a second send of a backlog's deliveries,
seen once in about eight loaded test runs)."""

from __future__ import annotations

import asyncio

import pytest

from backend.outbound.delivery import RetryPolicy, WebhookWorker
from backend.outbound.egress import EgressPolicy, post_client
from backend.store.sqlite import SqliteStore
from backend.waiting import wait_event


async def test_wait_event_says_whether_the_event_was_set():
    event = asyncio.Event()
    assert await wait_event(event, 0.01) is False
    event.set()
    assert await wait_event(event, 5) is True


async def test_a_cancellation_in_the_same_turn_as_the_wake_up_is_not_lost():
    for _ in range(50):
        event = asyncio.Event()
        waiter = asyncio.create_task(wait_event(event, 5))
        await asyncio.sleep(0)  # the waiter is now parked on the event
        event.set()
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter


async def test_the_webhook_worker_stops_when_cancelled_as_it_is_woken(tmp_path):
    store = SqliteStore(str(tmp_path / "oi.db"))
    await store.open()
    try:
        async with post_client(5, 4, "test") as client:
            worker = WebhookWorker(store, client, EgressPolicy([]), RetryPolicy())
            for _ in range(20):
                task = asyncio.create_task(worker.run())
                # Give it time to park between outbox checks (no subscriptions: it only
                # waits). Whether or not it got there, the cancellation must end it.
                await asyncio.sleep(0.02)
                worker.wake()
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await asyncio.wait_for(asyncio.shield(task), 5)
    finally:
        await store.close()
