"""granian as the HTTP server (`--http granian`): embedded in this process's event loop.

granian's embedded server runs the app on the running asyncio loop (uvloop here) and does
HTTP parsing and socket I/O in Rust, so the process layout matches the uvicorn path: one
process, one loop, the SQLite threads beside it. Two things uvicorn does that granian's
embedded server does not are added here:

- It binds a socket we hand it, so `--port 0` announces the port that is really served.
- On shutdown it resolves the lifespan as soon as it stops accepting. `_Drain` holds the
  lifespan's shutdown back until in-flight requests have answered (at most
  `GRACE_SECONDS`), so the store closes after the last acknowledged write, not under it.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from collections.abc import Callable

from litestar import Litestar

from ..api.streams import end_streams
from ..settings import Settings
from ..waiting import wait_event
from .asgi import ASGIApp, Receive, Scope, Send
from .granian_guard import IdleSocketGuard
from .http_limits import BodyTimeout, max_connections
from .shutdown import exit_without_closing

BACKLOG = 1024
GRACE_SECONDS = 10.0

log = logging.getLogger("openintent.server")


class _Drain:
    """Counts HTTP requests in flight; the lifespan's shutdown waits for them."""

    def __init__(self, app: ASGIApp, grace_seconds: float) -> None:
        self.app = app
        self.grace_seconds = grace_seconds
        self.active = 0
        self._idle: asyncio.Event | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, self._receive_after_drain(receive), send)
            return
        self.active += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.active -= 1
            if self.active == 0 and self._idle is not None:
                self._idle.set()

    def _receive_after_drain(self, receive: Receive) -> Receive:
        async def receive_lifespan():
            message = await receive()
            if message["type"] == "lifespan.shutdown" and self.active:
                self._idle = asyncio.Event()
                if not await wait_event(self._idle, self.grace_seconds):
                    log.warning(
                        "%d requests still open after %.0f s", self.active, self.grace_seconds
                    )
            return message

        return receive_lifespan


def _header_read_ms(settings: Settings) -> int:
    """hyper has one timer for both; 0 turns a timeout off, so the other one decides."""
    limits = [
        seconds
        for seconds in (settings.http_idle_timeout_seconds, settings.http_header_timeout_seconds)
        if seconds > 0
    ]
    return int(1000 * min(limits)) if limits else 86_400_000


def _log_level(name: str):
    from granian.log import LogLevels

    name = name.lower()
    return LogLevels(
        "debug" if name == "trace" else name if name in LogLevels.__members__ else "warning"
    )


def run(
    app: Litestar, sock: socket.socket, settings: Settings, announce: Callable[[str], None]
) -> int:
    """Serve on `sock` (bound, not yet listening) until SIGINT/SIGTERM; returns the exit code.

    A second signal during shutdown leaves at once, as on the uvicorn path."""
    import uvloop
    from granian.constants import Interfaces
    from granian.http import HTTP1Settings
    from granian.net import SocketHolder
    from granian.server.embed import Server

    sock.listen(BACKLOG)
    host, port = sock.getsockname()[:2]
    fd = sock.detach()  # granian's listener owns the descriptor from here on, and closes it

    class BoundServer(Server):
        def _init_shared_socket(self) -> None:
            # Private to granian, and its stubs type these attributes as None and declare
            # no constructor for SocketHolder; at runtime it takes (fd, is_uds, backlog).
            self._ssp = None
            self._shd = SocketHolder(fd, False, BACKLOG)  # type: ignore[call-arg,assignment]
            self._sfd = fd  # type: ignore[assignment]

    server = BoundServer(
        BodyTimeout(_Drain(app, GRACE_SECONDS), settings.http_body_timeout_seconds),
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        log_level=_log_level(settings.log_level),
        log_access=False,
        backlog=BACKLOG,
        # granian holds one permit of its backpressure semaphore per open connection and
        # accepts only with a permit: this is its connection cap, kept below the
        # descriptor limit so its accept loop never meets EMFILE. It cannot evict.
        backpressure=max_connections(settings),
        # hyper's header read timeout runs from the moment it waits for a request (first
        # or next) until the headers are complete: idle and header timeouts in one.
        http1_settings=HTTP1Settings(header_read_timeout=_header_read_ms(settings)),
    )

    signals = 0

    def on_signal() -> None:
        nonlocal signals
        signals += 1
        if signals == 1:
            end_streams(app)  # open streams would hold granian's graceful shutdown forever
            server.stop()
            return
        exit_without_closing(announce)

    guard = IdleSocketGuard(port, fd, max_connections(settings), settings.http_idle_timeout_seconds)

    async def main() -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal)
        guard.start()
        try:
            await server.serve()
        finally:
            await guard.stop()
        # Closing the loop would restore the default handlers, and a late second signal
        # would then kill a process that has shut down cleanly: ignore signals from here.
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
            signal.signal(sig, signal.SIG_IGN)
        # a worker that ended on its own: the lifespan failed (e.g. not a database)
        return 1 if server.interrupt_children else 0

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main())
