"""An async SSE reader that never gives up: reconnect with backoff and jitter, resume with
Last-Event-ID, backfill over REST by sequence, de-duplicate, report connection state.

    async for event in EventStream(client, on_state=show).events():
        ...

The global stream orders by `global_sequence`; a per-intent stream by the intent's own
`sequence`. Events that carry neither (another dialect's frames) are de-duplicated by id, and by
the client's `change_key` when the same change can arrive under two ids. Which paths to open
and how a frame reads are the client's (`ServerAPI`): the stream itself knows no dialect.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Literal

import httpx
import msgspec

from backend.waiting import wait_event
from backend.wire.events import Event
from backend.wire.headers import LAST_EVENT_ID

from .api import GLOBAL_STREAM_PATH, ServerAPI
from .errors import (
    AuthError,
    ClientError,
    ConnectionLost,
    ForbiddenError,
    NotFoundError,
    Unavailable,
    error_for,
)
from .sse import SSEFrame, SSEParser

StateName = Literal["connecting", "live", "reconnecting", "offline", "unavailable"]
"""`unavailable`: the server answers but has no such stream (the reference has no global one)."""


class ConnectionState(msgspec.Struct, frozen=True):
    """What the status bar shows. `retry_in` is the seconds until the next attempt."""

    state: StateName
    retry_in: float | None = None
    attempt: int = 0
    error: str | None = None
    last_sequence: int | None = None

    @property
    def stale(self) -> bool:
        """Data shown may be missing events until the stream is live again."""
        return self.state != "live"

    def describe(self) -> str:
        if self.state == "reconnecting" and self.retry_in is not None:
            return f"reconnecting in {self.retry_in:.0f} s"
        return self.state


class Backoff(msgspec.Struct, frozen=True):
    """Exponential backoff with ±`jitter` spread, so many consoles do not reconnect in step."""

    initial: float = 0.5
    maximum: float = 30.0
    factor: float = 2.0
    jitter: float = 0.25

    def delay(self, attempt: int) -> float:
        base = min(self.maximum, self.initial * self.factor ** min(attempt, 32))
        spread = 1 + self.jitter * (2 * random.random() - 1)
        return min(self.maximum, base * spread)


def event_from_frame(frame: SSEFrame) -> Event | None:
    """The Event in one of our server's frames, or None for frames that carry none (pings,
    hello). The SSE `id:` is the global sequence."""
    if not frame.data:
        return None
    try:
        raw: Any = msgspec.json.decode(frame.data)
    except msgspec.DecodeError:
        return None
    if not isinstance(raw, dict) or "event_type" not in raw:
        return None
    if frame.id and frame.id.isdigit() and not raw.get("global_sequence"):
        raw["global_sequence"] = int(frame.id)
    try:
        return msgspec.convert(raw, Event)
    except msgspec.ValidationError:
        return None


class _Seen:
    """Bounded memory of event ids, for events without a usable sequence."""

    def __init__(self, size: int = 10_000) -> None:
        self._order: deque[str] = deque()
        self._ids: set[str] = set()
        self._size = size

    def add(self, event_id: str) -> bool:
        """True when new."""
        if event_id in self._ids:
            return False
        self._ids.add(event_id)
        self._order.append(event_id)
        if len(self._order) > self._size:
            self._ids.discard(self._order.popleft())
        return True


class EventStream:
    """Live events from the whole server (`intent_id=None`) or from one intent.

    `after`: the last sequence already seen (global, or the intent's own for a per-intent
    stream); events after it are backfilled on connect. None starts the global stream at the
    current head, and a per-intent stream at the start of that intent's log.
    `on_state(ConnectionState)` is called on every change; exceptions in it are not caught.
    """

    def __init__(
        self,
        client: ServerAPI,
        *,
        intent_id: str | None = None,
        after: int | None = None,
        on_state: Callable[[ConnectionState], Any] | None = None,
        backoff: Backoff | None = None,
        read_timeout: float = 90.0,
        backfill_page: int = 500,
    ) -> None:
        self.client = client
        self.intent_id = intent_id
        self.last_sequence = 0 if after is None and intent_id else after
        # The SSE `id:` (and so Last-Event-ID) is always the global sequence, also on
        # per-intent streams, whose own order is the per-intent `sequence`.
        self.last_global: int | None = None if intent_id else after
        self.on_state = on_state
        self.backoff = backoff or Backoff()
        self.read_timeout = read_timeout
        self.backfill_page = backfill_page
        self.state = ConnectionState("connecting")
        self._path = client.intent_stream_path(intent_id) if intent_id else GLOBAL_STREAM_PATH
        self._seen = _Seen()
        self._wake = asyncio.Event()

    # -- public ----------------------------------------------------------------------------
    def reconnect_now(self) -> None:
        """Cut the current backoff wait short (the console's `R` key)."""
        self._wake.set()

    async def events(self) -> AsyncIterator[Event]:
        """Yield events forever, in order, each once. Cancel the consuming task to stop."""
        attempt = 0
        while True:
            try:
                async for event in self._session():
                    attempt = 0
                    yield event
                raise ConnectionLost("the server closed the stream")
            except Unavailable as exc:
                # The server is up but has no such stream: not an outage. Look again now and
                # then (a server upgrade may add it).
                delay = self.backoff.maximum
                self._set("unavailable", retry_in=delay, attempt=attempt, error=exc.message)
            except (AuthError, ForbiddenError, NotFoundError) as exc:
                # Not fixed by retrying soon (wrong key, intent gone): stay offline but still
                # look again now and then.
                delay = self.backoff.maximum
                self._set("offline", retry_in=delay, attempt=attempt, error=exc.message)
            except ClientError as exc:
                delay = self.backoff.delay(attempt)
                self._set("reconnecting", retry_in=delay, attempt=attempt + 1, error=exc.message)
            attempt += 1
            await self._sleep(delay)

    def __aiter__(self) -> AsyncIterator[Event]:
        return self.events()

    # -- internals -------------------------------------------------------------------------
    def _set(self, state: StateName, **fields: Any) -> None:
        self.state = ConnectionState(state, last_sequence=self.last_sequence, **fields)
        if self.on_state is not None:
            self.on_state(self.state)

    async def _sleep(self, delay: float) -> None:
        self._wake.clear()
        await wait_event(self._wake, delay)

    def _sequence_of(self, event: Event) -> int:
        return event.sequence if self.intent_id else event.global_sequence

    def _fresh(self, event: Event) -> bool:
        """True the first time an event is seen; advances `last_sequence`."""
        if event.global_sequence > (self.last_global or 0):
            self.last_global = event.global_sequence
        sequence = self._sequence_of(event)
        if sequence > 0:
            if self.last_sequence is not None and sequence <= self.last_sequence:
                return False
            self.last_sequence = sequence
            return True
        key = self.client.change_key(event)
        if key is None or key == event.id:
            return self._seen.add(event.id)
        fresh = self._seen.add(event.id)
        return self._seen.add(key) and fresh

    async def _session(self) -> AsyncIterator[Event]:
        """One connection: open the stream, backfill what was missed, then relay live frames.
        The stream is opened BEFORE the backfill so nothing falls between the two."""
        if self.intent_id is None and not self.client.capabilities.global_stream:
            # Declared when the console connected: no request needed to know it.
            raise Unavailable(0, f"This server does not support GET {GLOBAL_STREAM_PATH}")
        if self.last_sequence is None and self.intent_id is None:
            self.last_sequence = self.last_global = await head_sequence(self.client)
        self._set("connecting", attempt=0)
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        if self.last_global is not None:
            headers[LAST_EVENT_ID.name] = str(self.last_global)
        timeout = httpx.Timeout(self.client.timeout, read=self.read_timeout)
        try:
            async with self._open(headers, timeout) as response:
                async for event in self._backfill():
                    yield event
                self._set("live")
                parser = SSEParser()
                async for line in response.aiter_lines():
                    frame = parser.feed(line.rstrip("\r"))
                    if frame is None:
                        continue
                    live = self.client.event_of_frame(frame)
                    if live is not None and self._fresh(live):
                        yield live
        except httpx.TimeoutException as exc:
            raise ConnectionLost("the stream went quiet (no keep-alive)", exc) from exc
        except httpx.TransportError as exc:
            raise ConnectionLost(
                f"stream connection lost: {exc or type(exc).__name__}", exc
            ) from exc

    @asynccontextmanager
    async def _open(
        self, headers: dict[str, str], limits: httpx.Timeout
    ) -> AsyncIterator[httpx.Response]:
        async with self.client.http.stream(
            "GET", self._path, headers=headers, timeout=limits
        ) as response:
            if response.status_code < 400:
                yield response
                return
            await response.aread()
            raise error_for(response.status_code, _json(response), f"GET {self._path}")

    async def _backfill(self) -> AsyncIterator[Event]:
        if self.last_sequence is None:
            return
        while True:
            if self.intent_id:
                page = await self.client.list_events(
                    self.intent_id, limit=self.backfill_page, cursor=self.last_sequence
                )
            else:
                try:
                    page = await self.client.events_after(self.last_sequence, self.backfill_page)
                except Unavailable:
                    return  # no global log on this server: live events only
            for event in page.events:
                if self._fresh(event):
                    yield event
            if page.next_cursor is None or not page.events:
                return


def _json(response: httpx.Response) -> Any:
    try:
        return msgspec.json.decode(response.content) if response.content else None
    except msgspec.DecodeError:
        return response.text


async def head_sequence(client: ServerAPI) -> int | None:
    """The newest global sequence, found with O(log n) one-event probes of the backfill
    endpoint; None when the server has no global log."""
    try:

        async def exists(sequence: int) -> bool:
            page = await client.events_after(sequence - 1, limit=1)
            return bool(page.events)

        if not await exists(1):
            return 0
        low, high = 1, 2
        while await exists(high):  # exponential search for an upper bound
            low, high = high, high * 2
        while high - low > 1:  # exists(low) and not exists(high)
            middle = (low + high) // 2
            if await exists(middle):
                low = middle
            else:
                high = middle
        return low
    except Unavailable:
        return None
