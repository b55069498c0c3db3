"""In-process event broker: committed events fan out to live SSE subscribers.

The event log in the database is the truth; the broker is only a fast path. Each subscriber
has a bounded buffer. When it overflows (a slow client), the buffer is dropped and the
subscriber is marked lagged: its stream re-reads the log from its cursor and then goes live
again, so a slow client costs memory bounded by the buffer and loses nothing, and the
publisher never waits for anyone.

`publish` is registered as the store's commit listener: it runs on the event loop, once per
committed batch, in commit order, so every subscriber sees events in global-sequence order.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable
from typing import Any

import msgspec

from .wire.events import Event

_encode = msgspec.json.Encoder().encode

LAGGED = object()
"""What `Subscription.next` returns after the buffer overflowed: re-read the log."""
CLOSED = object()
"""What `Subscription.next` returns once the server is shutting down: end the stream."""


def sse_frame(event: Event, sdk_signals: bool = False) -> bytes:
    """One SSE message: `id` is the global sequence (what Last-Event-ID resumes from).

    msgspec escapes newlines inside strings, so the JSON is always a single `data:` line.
    With `sdk_signals`, an uppercase signal follows when the SDK's Agent framework routes
    on one (see `sdk_signal`); it carries the same id, so resuming skips both."""
    frame = b"id: %d\nevent: %s\ndata: %s\n\n" % (
        event.global_sequence,
        event.event_type.encode(),
        _encode(event),
    )
    signal = sdk_signal(event) if sdk_signals else None
    if signal is not None:
        name, data = signal
        frame += b"id: %d\nevent: %s\ndata: %s\n\n" % (
            event.global_sequence,
            name,
            _encode(data),
        )
    return frame


def sdk_signal(event: Event) -> tuple[bytes, dict[str, Any]] | None:
    """The SDK's Agent framework dispatches `@on_assignment`, `@on_state_change`,
    `@on_complete` and `@on_lease_available` only on uppercase SSE types carrying flat
    fields (`intent_id`, `new_status`, `new_state`, `scope`); our events are lowercase with
    a payload. The signal restates the event in that shape. `new_state` holds the top-level
    keys the patch touched (set values as written, other operations as null)."""
    payload = event.payload if isinstance(event.payload, dict) else {}
    base: dict[str, Any] = {"intent_id": event.intent_id, "event_id": event.id}
    match event.event_type:
        case "agent_assigned":
            return b"AGENT_ASSIGNED", {**base, **payload}
        case "status_changed" if event.intent_id:
            return b"STATUS_CHANGED", {**base, **payload}
        case "lease_released":
            return b"LEASE_RELEASED", {**base, **payload}
        case "state_patched":
            touched: dict[str, Any] = {}
            for patch in payload.get("patches") or ():
                path = str(patch.get("path", "")).lstrip("/").split("/")
                top = path[0]
                simple = len(path) == 1 and patch.get("op") in ("set", "replace", "add")
                touched[top] = patch.get("value") if simple else None
            return b"STATE_CHANGED", {**base, "new_state": touched, **payload}
    return None


# ----- scopes: which events a stream wants ---------------------------------------------------


class Scope:
    """What a stream is about. `matches` must be pure (it also filters log replays);
    `observe` sees every live event first, so scopes with membership can follow changes."""

    key: tuple

    def matches(self, event: Event) -> bool:
        raise NotImplementedError

    def observe(self, event: Event) -> None:
        return None


class GlobalScope(Scope):
    key = ("global",)

    def matches(self, event: Event) -> bool:
        return True


class IntentScope(Scope):
    def __init__(self, intent_id: str) -> None:
        self.intent_id = intent_id
        self.key = ("intent", intent_id)

    def matches(self, event: Event) -> bool:
        return event.intent_id == self.intent_id


def _payload_value(event: Event, name: str) -> Any:
    payload = event.payload
    return payload.get(name) if isinstance(payload, dict) else None


_MEMBERSHIP_EVENTS = frozenset(("added_to_portfolio", "removed_from_portfolio"))


class PortfolioScope(Scope):
    """Events about the portfolio itself, and every event of its member intents.

    Membership is loaded when the first stream opens and then followed from the
    `added_to_portfolio` / `removed_from_portfolio` events (the removal itself is still
    delivered: it names the portfolio). A replay filters with the current membership."""

    def __init__(self, portfolio_id: str, member_ids: Iterable[str]) -> None:
        self.portfolio_id = portfolio_id
        self.members = set(member_ids)
        self.key = ("portfolio", portfolio_id)

    def _names_me(self, event: Event) -> bool:
        return (event.portfolio_id or _payload_value(event, "portfolio_id")) == self.portfolio_id

    def observe(self, event: Event) -> None:
        if event.event_type in _MEMBERSHIP_EVENTS and self._names_me(event):
            member = event.intent_id or _payload_value(event, "intent_id")
            if member and event.event_type == "added_to_portfolio":
                self.members.add(member)
            elif member:
                self.members.discard(member)

    def matches(self, event: Event) -> bool:
        if event.intent_id is not None and event.intent_id in self.members:
            return True
        if event.portfolio_id == self.portfolio_id:
            return True
        return event.event_type in _MEMBERSHIP_EVENTS and self._names_me(event)


class AgentScope(Scope):
    """An agent's stream: what it did (actor), what names it (`payload.agent_id`, e.g.
    agent_assigned), and everything on the intents it is assigned to."""

    def __init__(self, agent_id: str, intent_ids: Iterable[str]) -> None:
        self.agent_id = agent_id
        self.intents = set(intent_ids)
        self.key = ("agent", agent_id)

    def observe(self, event: Event) -> None:
        if event.intent_id and _payload_value(event, "agent_id") == self.agent_id:
            if event.event_type == "agent_assigned":
                self.intents.add(event.intent_id)
            elif event.event_type == "agent_unassigned":
                self.intents.discard(event.intent_id)  # the event itself still names it

    def matches(self, event: Event) -> bool:
        if event.actor == self.agent_id or _payload_value(event, "agent_id") == self.agent_id:
            return True
        return event.intent_id is not None and event.intent_id in self.intents


# ----- subscriptions and the broker ----------------------------------------------------------


class Subscription:
    """One stream's bounded buffer of `(global_sequence, frame)` pairs."""

    __slots__ = (
        "_items",
        "_limit",
        "_waiter",
        "closed",
        "event_types",
        "lagged",
        "scope",
        "sdk_signals",
    )

    def __init__(
        self,
        scope: Scope,
        event_types: frozenset[str] | None,
        limit: int,
        sdk_signals: bool = False,
    ) -> None:
        self.scope = scope
        self.event_types = event_types
        self.sdk_signals = sdk_signals
        self._items: deque[tuple[int, bytes]] = deque()
        self._limit = limit
        self._waiter: asyncio.Future | None = None
        self.lagged = False
        self.closed = False

    def wants(self, event: Event) -> bool:
        return self.event_types is None or event.event_type in self.event_types

    def push(self, seq: int, frame: bytes) -> None:
        if self.lagged:  # the log has it; the stream will re-read from its cursor
            return
        if len(self._items) >= self._limit:
            self._items.clear()
            self.lagged = True
        else:
            self._items.append((seq, frame))
        self._wake()

    def close(self) -> None:
        """No more events: what is buffered is still delivered, then `next` says CLOSED."""
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def resume(self) -> None:
        """Call before re-reading the log: from now on, new events are buffered again."""
        self.lagged = False

    async def next(self, idle_seconds: float) -> list[tuple[int, bytes]] | object | None:
        """Everything buffered (oldest first), `LAGGED`, `CLOSED`, or None after
        `idle_seconds` idle.

        A plain future and timer rather than `asyncio.wait_for`: this runs once per stream
        per wake-up, and wait_for costs several times more."""
        if not self._items and not self.lagged and not self.closed:
            loop = asyncio.get_running_loop()
            waiter = self._waiter = loop.create_future()
            timer = loop.call_later(idle_seconds, _expire, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
                self._waiter = None
            if waiter.result() is _IDLE:
                return None
        return self.take()

    def take(self) -> list[tuple[int, bytes]] | object:
        """What is buffered now (maybe nothing), `LAGGED`, or `CLOSED` once closed and
        drained; never waits."""
        if self.lagged:
            return LAGGED
        if self.closed and not self._items:
            return CLOSED
        items = list(self._items)
        self._items.clear()
        return items


_IDLE = object()


def _expire(waiter: asyncio.Future) -> None:
    if not waiter.done():
        waiter.set_result(_IDLE)


class _Topic:
    __slots__ = ("scope", "subscriptions")

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.subscriptions: set[Subscription] = set()


class Broker:
    def __init__(self, buffer_events: int = 1024, head: int = 0) -> None:
        self.buffer_events = buffer_events
        self.head = head
        """The last global sequence published: a new live-only stream starts after it."""
        self.lag_count = 0
        self.closed = False
        self._intent_topics: dict[str, _Topic] = {}  # the common case: one dict lookup
        self._other_topics: dict[tuple, _Topic] = {}

    def _topics_for(self, scope: Scope) -> tuple[dict[Any, _Topic], Any]:
        if isinstance(scope, IntentScope):
            return self._intent_topics, scope.intent_id
        return self._other_topics, scope.key

    def subscribe(
        self,
        scope: Scope,
        event_types: frozenset[str] | None = None,
        sdk_signals: bool = False,
    ) -> Subscription:
        topics, key = self._topics_for(scope)
        topic = topics.get(key)
        if topic is None:
            topic = topics[key] = _Topic(scope)
        subscription = Subscription(topic.scope, event_types, self.buffer_events, sdk_signals)
        topic.subscriptions.add(subscription)
        if self.closed:
            subscription.close()
        return subscription

    def close(self) -> None:
        """The server is shutting down: every stream sends what it has and ends, so the HTTP
        server's graceful shutdown is not held open by clients that would never leave."""
        self.closed = True
        for topics in (self._intent_topics, self._other_topics):
            for topic in topics.values():
                for subscription in topic.subscriptions:
                    subscription.close()

    def unsubscribe(self, subscription: Subscription) -> None:
        topics, key = self._topics_for(subscription.scope)
        topic = topics.get(key)
        if topic is None:
            return
        topic.subscriptions.discard(subscription)
        if not topic.subscriptions:
            del topics[key]

    def publish(self, events: list[Event]) -> None:
        """The store's commit listener. Never blocks and never raises into the writer."""
        for event in events:
            self.head = max(self.head, event.global_sequence)
            frames: list[bytes | None] = [None, None]  # encoded once per variant
            topics = list(self._other_topics.values())
            if event.intent_id is not None:
                intent_topic = self._intent_topics.get(event.intent_id)
                if intent_topic is not None:
                    topics.append(intent_topic)
            for topic in topics:
                topic.scope.observe(event)
                if not topic.scope.matches(event):
                    continue
                for subscription in topic.subscriptions:
                    if not subscription.wants(event):
                        continue
                    variant = int(subscription.sdk_signals)
                    frame = frames[variant]
                    if frame is None:
                        frame = frames[variant] = sse_frame(event, subscription.sdk_signals)
                    was_lagged = subscription.lagged
                    subscription.push(event.global_sequence, frame)
                    if subscription.lagged and not was_lagged:
                        self.lag_count += 1
