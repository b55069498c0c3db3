"""The official SDK's stream reader (`SSEStream`) against our SDK-path streams.

The SDK connects without Last-Event-ID the first time, so a stream only sees what is
committed after it subscribed. Each test keeps "pinging" (posting a marked comment from a
helper thread) until the first ping arrives, which proves the stream is live, then checks
what follows. The stream is iterated on the test's own thread and closed by closing the
iterator, which is how the SDK's generator releases its connection."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from openintent import EventType, OpenIntentClient
from openintent.streaming import SSEEvent, SSEEventType

from tests.interop.test_sdk_core import AGENT


@pytest.fixture
def client(server) -> Iterator[OpenIntentClient]:
    sdk = OpenIntentClient(base_url=server.url, api_key=server.api_key, agent_id=AGENT)
    yield sdk
    sdk._client.close()


@contextmanager
def pinging(ping: Callable[[], object]) -> Iterator[None]:
    """Call `ping` every 0.1 s on a helper thread (bounded) until the block ends."""
    stop = threading.Event()

    def run() -> None:
        for _ in range(100):
            ping()
            if stop.wait(0.1):
                return

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(10)


def is_ping(event: SSEEvent) -> bool:
    return "ping" in (event.data.get("payload") or {})


def live_stream(stream, ping: Callable[[], object]) -> Iterator[SSEEvent]:
    events = iter(stream)
    with pinging(ping):
        first = next(events)
    assert is_ping(first), first
    return events


def take(events: Iterator[SSEEvent], count: int) -> list[SSEEvent]:
    got: list[SSEEvent] = []
    for event in events:
        if not is_ping(event):
            got.append(event)
            if len(got) == count:
                break
    return got


def test_subscribe_sse_yields_our_events(client, server):
    intent = client.create_intent("streamed", "described")
    with server.client() as pinger:
        ping = lambda: pinger.post(  # noqa: E731
            f"/api/v1/intents/{intent.id}/events",
            json={"event_type": "comment", "payload": {"ping": 1}},
        )
        stream = client.subscribe_sse(intent.id)
        events = live_stream(stream, ping)
        try:
            logged = [client.log_event(intent.id, EventType.COMMENT, {"n": n}) for n in range(3)]
            got = take(events, 3)
        finally:
            events.close()
    assert [e.type for e in got] == ["comment"] * 3
    assert [e.data["id"] for e in got] == [e.id for e in logged]
    assert all(e.intent_id == intent.id for e in got)  # SSEEvent.intent_id reads data
    assert [e.data["payload"]["n"] for e in got] == [0, 1, 2]
    ids = [int(e.id) for e in got]
    assert ids == sorted(ids) and len(set(ids)) == 3  # `id:` is the global sequence
    assert stream._last_event_id == got[-1].id  # what the SDK resends on reconnect


def test_subscribe_agent_sees_its_assignments(client, server):
    watched = client.create_intent("watched", "described")
    other = client.create_intent("other", "described")
    with server.client(agent_id="worker-1") as as_worker:
        ping = lambda: as_worker.post(  # noqa: E731 - the agent acting: on its stream
            f"/api/v1/intents/{other.id}/events",
            json={"event_type": "comment", "payload": {"ping": 1}},
        )
        events = live_stream(client.subscribe_agent("worker-1"), ping)
        try:
            client.log_event(other.id, EventType.COMMENT, {"not": "mine"})
            client.assign_agent(watched.id, "worker-1")
            client.log_event(watched.id, EventType.COMMENT, {"now": "mine"})
            got = take(events, 3)
        finally:
            events.close()
    assert [e.type for e in got] == ["agent_assigned", "AGENT_ASSIGNED", "comment"]
    assert got[0].data["payload"]["agent_id"] == "worker-1"
    # what the SDK's Agent framework reads to run @on_assignment handlers
    assert got[1].type == SSEEventType.AGENT_ASSIGNED
    assert got[1].intent_id == watched.id and got[1].agent_id == "worker-1"
    assert got[2].data["payload"] == {"now": "mine"}


def test_subscribe_portfolio_relays_member_intents(client, server):
    member = client.create_intent("member", "described")
    outsider = client.create_intent("outsider", "described")
    portfolio = client.create_portfolio("launch")
    client.add_intent_to_portfolio(portfolio.id, member.id)
    with server.client() as pinger:
        ping = lambda: pinger.post(  # noqa: E731
            f"/api/v1/intents/{member.id}/events",
            json={"event_type": "comment", "payload": {"ping": 1}},
        )
        events = live_stream(client.subscribe_portfolio(portfolio.id), ping)
        try:
            client.log_event(outsider.id, EventType.COMMENT, {"n": 0})
            logged = client.log_event(member.id, EventType.COMMENT, {"n": 1})
            (event,) = take(events, 1)
        finally:
            events.close()
    assert event.type == "comment"
    assert event.data["id"] == logged.id
    assert event.intent_id == member.id
