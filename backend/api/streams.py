"""Live event streams (Server-Sent Events) that never lose an event.

Each frame is `id: <global sequence>`, `event: <event_type>`, `data: <Event JSON>`. A stream
subscribes to the broker *before* it reads the log, so the log replay (Last-Event-ID or
?since=) and the live tail overlap instead of leaving a gap; the overlap is dropped by
sequence, so there are no duplicates either. When a stream's buffer overflows it reads the
log again from its cursor (see backend/bus.py).

Paths: the SDK's (`/intents/{id}/subscribe`, `/portfolios/{id}/subscribe`,
`/agents/{id}/subscribe`), the reference server's (`/subscribe/intents/{id}`, ...), and
`/events/stream` for everything.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from litestar import Controller, Litestar, Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath, HeaderParameter, QueryParameter
from litestar.response import Stream

from ..bus import (
    CLOSED,
    LAGGED,
    AgentScope,
    Broker,
    GlobalScope,
    IntentScope,
    PortfolioScope,
    Scope,
    sse_frame,
)
from ..domain.errors import InvalidInput, NotFound
from ..domain.numbers import parse_decimal
from ..store import Store
from ..wire.events import EVENT_TYPES, event_type_error_detail
from ..wire.headers import LAST_EVENT_ID

CAPABILITIES = ["streams", "sse"]

REPLAY_PAGE = 500
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
CONNECTED = b": connected\nretry: 3000\n\n"
KEEPALIVE = b": keepalive\n\n"
CATCH_UP = b": catching up from the log\n\n"

LastEventId = Annotated[
    str | None,
    HeaderParameter(
        name=LAST_EVENT_ID.name,
        description="Resume after this global sequence (the last `id:` received).",
        required=False,
    ),
]
Since = Annotated[
    str | None,
    QueryParameter(description="Replay events after this global sequence, then go live."),
]
EventTypeFilter = Annotated[
    str | None,
    QueryParameter(description="Only these event types (comma-separated)."),
]


def parse_cursor(last_event_id: str | None, since: str | None) -> int | None:
    """Where replay starts; None means live only. Last-Event-ID wins: it is what a
    reconnecting client knows best."""
    for name, value in ((LAST_EVENT_ID.name, last_event_id), ("since", since)):
        if value is None or value.strip() == "":
            continue
        cursor = parse_decimal(value.strip())
        if cursor is None:
            raise InvalidInput(
                f"{name} must be a global sequence (a non-negative 64-bit integer), not {value!r}",
                errors=[{"field": name}],
            )
        return cursor
    return None


def parse_event_types(value: str | None) -> frozenset[str] | None:
    if not value:
        return None
    wanted = frozenset(t.strip() for t in value.split(",") if t.strip())
    unknown = sorted(wanted - EVENT_TYPES)
    if unknown:
        raise InvalidInput(
            f"Unknown event_type {', '.join(unknown)}; see `errors` for the allowed values",
            errors=[event_type_error_detail()],
        )
    return wanted or None


async def event_stream(
    store: Store,
    broker: Broker,
    scope: Scope,
    event_types: frozenset[str] | None,
    cursor: int | None,
    keepalive_seconds: float,
    refresh_scope=None,
    flush_interval: float = 0.0,
    sdk_signals: bool = False,
    replay_bytes: int | None = None,
) -> AsyncIterator[bytes]:
    """The SSE body. Subscribing happens here, on the first iteration, so a client that
    goes away before the body starts never leaves a subscription behind."""
    subscription = broker.subscribe(scope, event_types, sdk_signals)
    catch_up = cursor is not None
    if cursor is None:
        cursor = broker.head  # live only: everything published after this is buffered
    loop = asyncio.get_running_loop()
    last_flush = 0.0
    try:
        if refresh_scope is not None:
            await refresh_scope(subscription.scope)  # after subscribing: no missed change
        yield CONNECTED
        while True:
            if catch_up:
                subscription.resume()  # before reading: what commits from now is buffered
                while True:
                    page = await store.events_after(cursor, REPLAY_PAGE, replay_bytes)
                    frames = [
                        sse_frame(event, sdk_signals)
                        for event in page
                        if subscription.scope.matches(event) and subscription.wants(event)
                    ]
                    if page:
                        cursor = page[-1].global_sequence
                    if frames:
                        yield b"".join(frames)
                    if not page:  # a page may end early at replay_bytes: read to the end
                        break
                catch_up = False
            items = await subscription.next(keepalive_seconds)
            if isinstance(items, list) and flush_interval > 0:
                # Under a high event rate, write at most once per interval per stream and
                # send what piled up meanwhile in one chunk: a write per event per stream
                # would cost more CPU than the events. An idle stream writes at once.
                pause = last_flush + flush_interval - loop.time()
                if pause > 0:
                    await asyncio.sleep(pause)
                    more = subscription.take()
                    if more is LAGGED:
                        items = more
                    elif isinstance(more, list):  # CLOSED comes again on the next call
                        items = items + more
                last_flush = loop.time()
            if items is CLOSED:
                return
            if items is None:
                yield KEEPALIVE
            elif items is LAGGED:
                catch_up = True
                yield CATCH_UP  # a comment: clients ignore it; it says why the burst
            else:
                assert isinstance(items, list)  # the sentinels are handled above
                frames = []
                for seq, frame in items:
                    if seq > cursor:  # at or below: already sent by the replay
                        frames.append(frame)
                        cursor = seq
                if frames:
                    yield b"".join(frames)
    finally:
        broker.unsubscribe(subscription)


class StreamController(Controller):
    tags = ["streams"]

    def _stream(
        self,
        request: Request,
        scope: Scope,
        event_type: str | None,
        last_event_id: str | None,
        since: str | None,
        refresh_scope=None,
    ) -> Stream:
        state = request.app.state
        body = event_stream(
            state.store,
            state.broker,
            scope,
            parse_event_types(event_type),
            parse_cursor(last_event_id, since),
            state.settings.sse_keepalive_seconds,
            refresh_scope,
            state.settings.sse_flush_interval_ms / 1000,
            # the SDK's own paths also get the uppercase signals its Agent framework needs
            sdk_signals=request.url.path.endswith("/subscribe"),
            replay_bytes=state.settings.max_response_bytes,
        )
        return Stream(body, media_type="text/event-stream", headers=SSE_HEADERS)

    @get(
        ["/intents/{intent_id:str}/subscribe", "/subscribe/intents/{intent_id:str}"],
        summary="Stream one intent's events (SSE)",
    )
    async def intent_stream(
        self,
        request: Request,
        store: NamedDependency[Store],
        intent_id: FromPath[str],
        event_type: EventTypeFilter = None,
        since: Since = None,
        last_event_id: LastEventId = None,
    ) -> Stream:
        await store.get_intent(intent_id)  # 404 before streaming
        return self._stream(request, IntentScope(intent_id), event_type, last_event_id, since)

    @get(
        ["/portfolios/{portfolio_id:str}/subscribe", "/subscribe/portfolios/{portfolio_id:str}"],
        summary="Stream a portfolio's events and its member intents' events (SSE)",
    )
    async def portfolio_stream(
        self,
        request: Request,
        store: NamedDependency[Store],
        portfolio_id: FromPath[str],
        event_type: EventTypeFilter = None,
        since: Since = None,
        last_event_id: LastEventId = None,
    ) -> Stream:
        member_ids = getattr(store, "portfolio_member_ids", None)
        if member_ids is None:
            raise NotFound(f"Portfolio {portfolio_id} not found (portfolios are not enabled)")
        members = await member_ids(portfolio_id)  # NotFound for an unknown portfolio

        async def refresh(scope: Scope) -> None:
            assert isinstance(scope, PortfolioScope)
            scope.members.update(await member_ids(portfolio_id))

        return self._stream(
            request,
            PortfolioScope(portfolio_id, members),
            event_type,
            last_event_id,
            since,
            refresh,
        )

    @get(
        ["/agents/{agent_id:str}/subscribe", "/subscribe/agents/{agent_id:str}"],
        summary="Stream an agent's events (SSE): what it does, what names it, and everything on "
        "the intents it is assigned to",
    )
    async def agent_stream(
        self,
        request: Request,
        store: NamedDependency[Store],
        agent_id: FromPath[str],
        event_type: EventTypeFilter = None,
        since: Since = None,
        last_event_id: LastEventId = None,
    ) -> Stream:
        intents = await store.agent_intent_ids(agent_id)

        async def refresh(scope: Scope) -> None:
            assert isinstance(scope, AgentScope)
            scope.intents.update(await store.agent_intent_ids(agent_id))

        return self._stream(
            request, AgentScope(agent_id, intents), event_type, last_event_id, since, refresh
        )

    @get("/events/stream", summary="Stream every event on the server (SSE)")
    async def global_stream(
        self,
        request: Request,
        event_type: EventTypeFilter = None,
        since: Since = None,
        last_event_id: LastEventId = None,
    ) -> Stream:
        return self._stream(request, GlobalScope(), event_type, last_event_id, since)


@asynccontextmanager
async def broker_lifespan(app: Litestar) -> AsyncIterator[None]:
    """One broker per app, fed by the store's commit listener."""
    store: Store = app.state.store
    broker = Broker(buffer_events=app.state.settings.sse_buffer_events)
    store.add_commit_listener(broker.publish)
    broker.head = max(broker.head, await store.latest_global_sequence())
    app.state.broker = broker
    yield


CONTROLLERS = [StreamController]
LIFESPANS = [broker_lifespan]


def end_streams(app: Litestar) -> None:
    """Call when shutdown begins, before the HTTP server waits for requests in flight: open
    streams would otherwise hold it for its whole grace period. Clients reconnect with
    Last-Event-ID once a server is back, so ending a stream loses nothing."""
    broker: Broker | None = getattr(app.state, "broker", None)
    if broker is not None:
        broker.close()
