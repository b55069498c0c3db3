"""Idle-connection rules for granian, which accepts and serves connections in Rust where the
Python side never sees them.

What granian itself offers covers part of it: its backpressure semaphore is held one permit
per open connection (so it is a connection cap: we set it below the descriptor limit and
its accept loop never meets EMFILE), and hyper's header read timeout closes a connection
whose headers are slow or that idles between requests. Two gaps remain, and they are the
ones a flood of idle sockets uses: hyper starts that timeout only at a request's first
byte, so a socket that connects and never sends is kept forever, and at the cap granian
stops accepting instead of making room, so `/health` would wait behind them.

`IdleSocketGuard` closes those from the outside. Every `interval` it looks at this
process's accepted sockets on the served port (Linux: /proc/self/fd and TCP_INFO) and shuts
down each one that has never received a byte and is older than the idle timeout, or, while
the connection count is at the cap, older than `FLOOD_GRACE_SECONDS`. A socket that has
received a request is never touched (its request may be a long SSE stream); hyper's own
timeout ends it once it idles. `shutdown()` makes hyper see the peer gone, close the
connection and release its permit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import struct
import sys

FLOOD_GRACE_SECONDS = 1.0
"""At the cap, a socket that has sent nothing for this long makes room for a new one."""
NEAR_CAP = 0.9
"""A full scan runs when the descriptor count passes this share of the cap (else only on
the idle-timeout schedule)."""

# struct tcp_info (linux/tcp.h): tcpi_last_data_recv (u32, ms) and tcpi_bytes_received (u64)
_LAST_DATA_RECV = struct.Struct("I")
_LAST_DATA_RECV_OFFSET = 52
_BYTES_RECEIVED = struct.Struct("Q")
_BYTES_RECEIVED_OFFSET = 128
_TCP_INFO_LENGTH = 136

log = logging.getLogger("openintent.server")


def supported() -> bool:
    return sys.platform.startswith("linux") and os.path.isdir("/proc/self/fd")


class IdleSocketGuard:
    def __init__(
        self, port: int, listener_fd: int, cap: int, idle_seconds: float, interval: float = 0.2
    ) -> None:
        self.port = port
        self.listener_fd = listener_fd
        self.cap = cap
        self.idle_ms = idle_seconds * 1000 if idle_seconds > 0 else None
        self.interval = interval
        self._task: asyncio.Task | None = None
        self._since_full_scan = 0.0

    def start(self) -> None:
        if supported():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="idle-guard")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        idle_every = max(self.interval, (self.idle_ms or 0) / 4000)
        while True:
            await asyncio.sleep(self.interval)
            self._since_full_scan += self.interval
            try:
                crowded = len(os.listdir("/proc/self/fd")) >= self.cap * NEAR_CAP
                if crowded or (self.idle_ms and self._since_full_scan >= idle_every):
                    self._since_full_scan = 0.0
                    self.scan()
            except Exception:  # never let the guard die: it is what keeps /health reachable
                log.exception("idle connection guard")

    def scan(self) -> int:
        """Shut down the sockets the rules above select; returns how many."""
        silent: list[tuple[int, int]] = []  # (ms since connected, fd), never sent a byte
        connections = 0
        for name in os.listdir("/proc/self/fd"):
            fd = int(name)
            if fd == self.listener_fd:
                continue
            try:
                if not os.readlink(f"/proc/self/fd/{name}").startswith("socket:"):
                    continue
                age_ms = self._silent_age_ms(fd)
            except OSError:
                continue  # closed meanwhile, or not a TCP socket
            if age_ms is None:
                continue
            connections += 1
            if age_ms >= 0:
                silent.append((age_ms, fd))
        at_cap = connections >= self.cap
        closed = 0
        threshold_ms = min(
            self.idle_ms if self.idle_ms is not None else float("inf"),
            FLOOD_GRACE_SECONDS * 1000 if at_cap else float("inf"),
        )
        for age_ms, fd in sorted(silent, reverse=True):  # oldest first
            if age_ms < threshold_ms:
                break
            closed += self._shutdown_if_still_silent(fd, threshold_ms)
        return closed

    def _silent_age_ms(self, fd: int) -> int | None:
        """None: not a connection accepted on our port. -1: it has received bytes. Else how
        long ago it connected (it has never received anything)."""
        sock = socket.socket(fileno=fd)
        try:
            if sock.family not in (socket.AF_INET, socket.AF_INET6):
                return None
            if sock.type != socket.SOCK_STREAM or sock.getsockname()[1] != self.port:
                return None
            if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
                return None  # a listener (granian may hold a copy of ours)
            info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO_LENGTH)
        finally:
            sock.detach()  # the descriptor stays granian's
        if len(info) < _TCP_INFO_LENGTH:
            return None
        if _BYTES_RECEIVED.unpack_from(info, _BYTES_RECEIVED_OFFSET)[0]:
            return -1
        return _LAST_DATA_RECV.unpack_from(info, _LAST_DATA_RECV_OFFSET)[0]

    def _shutdown_if_still_silent(self, fd: int, threshold_ms: float) -> int:
        # Looked at again just before: granian may have closed this descriptor since the
        # scan and the number may now belong to a fresh connection.
        try:
            age_ms = self._silent_age_ms(fd)
        except OSError:
            return 0
        if age_ms is None or age_ms < threshold_ms:
            return 0
        sock = socket.socket(fileno=fd)
        try:
            sock.shutdown(socket.SHUT_RDWR)
            return 1
        except OSError:
            return 0
        finally:
            sock.detach()
