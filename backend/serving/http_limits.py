"""What a client may hold: connection timeouts, a connection cap, and a request-body timeout.

Without them, sockets that connect and never send (or send headers or a body slowly) are kept
forever: about a thousand exhaust the process's descriptors and `/health` stops answering.

- A connection with no request in progress (before its first request, or between requests)
  is closed after `http_idle_timeout_seconds`.
- A request's headers must be complete `http_header_timeout_seconds` after its first byte,
  or the server answers 408 and closes.
- A request body that stops arriving for `http_body_timeout_seconds` (shorter than its
  Content-Length, or a stalled chunk) is answered 408 and the connection closed.
- At `http_max_connections` a new connection evicts the connection that has been idle the
  longest (no request in flight), so a flood of idle sockets cannot lock out `/health`. A
  connection with a request in flight (an SSE stream, an upload that keeps arriving) is
  never cut by these: it is bounded by its own request.

The cap stays below the descriptor limit (RLIMIT_NOFILE), with room for the database, logs
and outbound webhook connections, so accepting never fails with EMFILE.

The body timeout is an ASGI wrapper (`BodyTimeout`), so both HTTP servers share it; the
connection rules are uvicorn's protocol class extended (`guarded_protocol`). granian does its
connection handling in Rust: see `granian_server` for what it maps to there.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from typing import Any

from litestar.exceptions import HTTPException
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ..settings import Settings
from ..wire.headers import CONTENT_TYPE
from .asgi import ASGIApp, Message, Receive, Scope, Send

RESERVED_DESCRIPTORS = 128
"""Kept free below RLIMIT_NOFILE: SQLite files, logs, outbound webhook sockets, the listener."""
MIN_CONNECTIONS = 16

log = logging.getLogger("openintent.server")

_BODY_TIMEOUT_MESSAGE = "request body not received in time"


def max_connections(settings: Settings) -> int:
    """The connection cap: the setting (0 = derived), never above what the descriptor limit
    leaves once RESERVED_DESCRIPTORS are set aside."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    ceiling = (
        max(MIN_CONNECTIONS, soft - RESERVED_DESCRIPTORS)
        if soft != resource.RLIM_INFINITY
        else 1_000_000
    )
    wanted = settings.http_max_connections or ceiling
    if wanted > ceiling:
        log.warning(
            "http_max_connections %d lowered to %d: the descriptor limit is %d",
            wanted,
            ceiling,
            soft,
        )
    return min(wanted, ceiling)


class BodyTimeoutError(HTTPException):
    status_code = 408


class BodyTimeout:
    """ASGI wrapper: while a request body is still expected, each `receive()` waits at most
    `seconds`; then the request fails with 408 (the app's JSON error shape, and
    `Connection: close`, since the rest of the body may still be on its way). Once the body
    is complete, `receive()` is passed through untouched: an SSE handler waiting for the
    client to leave waits as long as it likes."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.seconds <= 0:
            await self.app(scope, receive, send)
            return
        body_done = False
        response_started = False

        async def timed_receive() -> Message:
            nonlocal body_done
            if body_done:
                return await receive()
            try:
                # asyncio.timeout, not wait_for: no extra task per receive on the hot path
                async with asyncio.timeout(self.seconds):
                    message = await receive()
            except TimeoutError:
                raise BodyTimeoutError(
                    detail=_BODY_TIMEOUT_MESSAGE, headers={"Connection": "close"}
                ) from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        async def watched_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, timed_receive, watched_send)
        except BodyTimeoutError:
            # Raised where the app does not turn errors into responses: answer here.
            if response_started:
                raise
            await send(
                {
                    "type": "http.response.start",
                    "status": 408,
                    "headers": [
                        (CONTENT_TYPE.raw, b"application/json"),
                        (b"connection", b"close"),
                    ],
                }
            )
            body = (
                b'{"detail":"'
                + _BODY_TIMEOUT_MESSAGE.encode()
                + b'","message":"'
                + _BODY_TIMEOUT_MESSAGE.encode()
                + b'"}'
            )
            await send({"type": "http.response.body", "body": body})


_HEADER_TIMEOUT_BODY = (
    b'{"detail":"request headers not received in time",'
    b'"message":"request headers not received in time"}'
)
_HEADER_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
    b"content-length: "
    + str(len(_HEADER_TIMEOUT_BODY)).encode()
    + b"\r\n\r\n"
    + _HEADER_TIMEOUT_BODY
)
_FULL_BODY = (
    b'{"detail":"server at its connection limit","message":"server at its connection limit"}'
)
_FULL_RESPONSE = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nconnection: close\r\n"
    b"retry-after: 1\r\ncontent-length: " + str(len(_FULL_BODY)).encode() + b"\r\n\r\n" + _FULL_BODY
)


class _Registry:
    """The server's connections with no request in flight, oldest idle first (dicts keep
    insertion order; a connection is re-inserted each time it becomes idle)."""

    def __init__(self) -> None:
        self.idle: dict[Any, None] = {}

    def evict_one(self, newcomer: Any) -> bool:
        for connection in self.idle:
            if connection is not newcomer:
                del self.idle[connection]
                connection.close_idle()
                return True
        return False


def guarded_protocol(settings: Settings) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol with the idle and header timeouts and the eviction cap;
    pass it as `uvicorn.Config(http=...)`."""
    cap = max_connections(settings)
    idle_seconds = settings.http_idle_timeout_seconds
    header_seconds = settings.http_header_timeout_seconds
    registry = _Registry()

    class GuardedProtocol(HttpToolsProtocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._timer: asyncio.TimerHandle | None = None
            self._in_flight = 0
            self._reading_headers = False

        # -- state -----------------------------------------------------------------------
        def _arm(self, seconds: float, callback) -> None:
            self._disarm()
            if seconds > 0:
                self._timer = self.loop.call_later(seconds, callback)

        def _disarm(self) -> None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

        def _become_idle(self) -> None:
            registry.idle[self] = None
            self._arm(idle_seconds, self.close_idle)

        def _become_busy(self) -> None:
            registry.idle.pop(self, None)

        def close_idle(self) -> None:
            self._disarm()
            registry.idle.pop(self, None)
            if not self.transport.is_closing():
                self.transport.close()

        def _headers_too_slow(self) -> None:
            self._timer = None
            if not self.transport.is_closing():
                self.transport.write(_HEADER_TIMEOUT_RESPONSE)
                self.transport.close()

        # -- uvicorn's protocol --------------------------------------------------------
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > cap and not registry.evict_one(self):
                # Every other connection has a request in flight: refuse this one.
                transport.write(_FULL_RESPONSE)
                transport.close()
                return
            self._become_idle()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            registry.idle.pop(self, None)
            super().connection_lost(exc)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._become_busy()
            self._reading_headers = True
            self._arm(header_seconds, self._headers_too_slow)

        def on_headers_complete(self) -> None:
            self._reading_headers = False
            self._disarm()
            self._in_flight += 1
            super().on_headers_complete()

        def on_response_complete(self) -> None:
            self._in_flight = max(0, self._in_flight - 1)
            super().on_response_complete()
            idle = not self._in_flight and not self._reading_headers
            if idle and not self.transport.is_closing():
                self._become_idle()

        def shutdown(self) -> None:
            self._disarm()
            registry.idle.pop(self, None)
            super().shutdown()

    return GuardedProtocol
