"""A lean keep-alive HTTP/1.1 client for the outbound worker's POSTs (webhooks, federation).

Profiling the federation benchmark (bench/README.md) put a third of each server's CPU in
httpx/httpcore for these small POSTs, most of it the connection pool's housekeeping: on every
request and every response it checks each idle connection for a server-side close (a poll()
through anyio's typed attributes per connection). This client does what the worker needs and
nothing else: one POST on a connection at a time, connections kept per (scheme, address,
port, TLS name), reused while the server keeps them open, dropped after IDLE_SECONDS (before a
server's usual 5 s keep-alive timeout). The egress guard still decides the address
(`guarded_post`); there are no proxies and no redirects here at all.

A request that fails on a reused connection before any byte of an answer arrived is sent once
more on a new connection: the server closed the idle connection as we reused it. Every
receiver of these POSTs deduplicates (webhook-id, dispatch id, callback idempotency key).
Errors are httpx's exception types, so callers report them the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time

import httpx

IDLE_SECONDS = 4.0
MAX_HEAD_BYTES = 65_536


class _Connection:
    __slots__ = ("idle_since", "reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.idle_since = 0.0

    def usable(self, now: float) -> bool:
        return (
            now - self.idle_since < IDLE_SECONDS
            and not self.reader.at_eof()
            and not self.writer.is_closing()
        )

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


class _NothingReceived(Exception):
    """The connection failed before any byte of an answer: safe to send again if reused."""


class PostClient:
    def __init__(
        self,
        timeout_seconds: float,
        *,
        connect_seconds: float = 5.0,
        max_idle_per_origin: int = 16,
        user_agent: str = "openintent-tui",
    ) -> None:
        self.timeout = timeout_seconds
        self.connect_timeout = min(connect_seconds, timeout_seconds)
        self.max_idle = max_idle_per_origin
        self.user_agent = user_agent
        self._idle: dict[tuple, list[_Connection]] = {}
        self._ssl: ssl.SSLContext | None = None

    async def __aenter__(self) -> PostClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()

    async def post(
        self,
        url: httpx.URL,
        *,
        host_header: str,
        sni: str | None,
        body: bytes,
        headers: dict[str, str],
        max_response_bytes: int,
    ) -> tuple[int, bytes]:
        """POST `body` to `url` (its host is the address to connect to). Returns the status
        and at most `max_response_bytes` of the answer."""
        port = url.port or (443 if url.scheme == "https" else 80)
        key = (url.scheme, url.host, port, sni)
        request = _request_bytes(url, host_header, self.user_agent, headers, body)
        for _ in range(2):
            connection, reused = await self._acquire(key, url.host, port, sni)
            try:
                async with asyncio.timeout(self.timeout):
                    status, answer, keep = await _exchange(connection, request, max_response_bytes)
            except _NothingReceived as exc:
                connection.close()
                if reused:
                    continue  # closed by the server while idle: once more, on a new one
                message = f"connection closed without an answer: {exc}"
                raise httpx.RemoteProtocolError(message) from None
            except TimeoutError:
                connection.close()
                raise httpx.ReadTimeout(f"no complete answer within {self.timeout:g} s") from None
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                connection.close()
                raise httpx.RemoteProtocolError(f"{type(exc).__name__}: {exc}") from None
            except BaseException:  # cancelled mid-exchange: the connection is in no known state
                connection.close()
                raise
            self._release(key, connection, keep)
            return status, answer
        raise httpx.RemoteProtocolError("connection closed without an answer, twice")

    async def _acquire(
        self, key: tuple, address: str, port: int, sni: str | None
    ) -> tuple[_Connection, bool]:
        idle = self._idle.get(key)
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            if connection.usable(now):
                return connection, True
            connection.close()
        context = None
        if key[0] == "https":
            if self._ssl is None:
                self._ssl = httpx.create_ssl_context()
            context = self._ssl
        try:
            async with asyncio.timeout(self.connect_timeout):
                reader, writer = await asyncio.open_connection(
                    address,
                    port,
                    ssl=context,
                    server_hostname=sni if context is not None else None,
                    limit=MAX_HEAD_BYTES,
                )
        except TimeoutError:
            raise httpx.ConnectTimeout(f"no connection within {self.connect_timeout:g} s") from None
        except (OSError, ssl.SSLError) as exc:
            raise httpx.ConnectError(f"{type(exc).__name__}: {exc}") from None
        return _Connection(reader, writer), False

    def _release(self, key: tuple, connection: _Connection, keep: bool) -> None:
        idle = self._idle.setdefault(key, [])
        if not keep or len(idle) >= self.max_idle:
            connection.close()
            return
        connection.idle_since = time.monotonic()
        idle.append(connection)


def _request_bytes(
    url: httpx.URL, host: str, user_agent: str, headers: dict[str, str], body: bytes
) -> bytes:
    lines = [
        f"POST {url.raw_path.decode('ascii')} HTTP/1.1",
        f"Host: {host}",
        f"User-Agent: {user_agent}",
        f"Content-Length: {len(body)}",
    ]
    for name, value in headers.items():
        if name.lower() in ("host", "content-length", "user-agent", "connection"):
            continue
        if any(c in name or c in value for c in "\r\n\0"):
            raise httpx.LocalProtocolError(f"header {name!r} holds a line break")
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def _exchange(
    connection: _Connection, request: bytes, max_bytes: int
) -> tuple[int, bytes, bool]:
    """Send the request, read the answer: (status, body up to max_bytes, reusable)."""
    reader, writer = connection.reader, connection.writer
    try:
        writer.write(request)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            raise _NothingReceived("end of stream") from None
        raise
    except ConnectionError as exc:
        raise _NothingReceived(type(exc).__name__) from None
    except asyncio.LimitOverrunError:
        raise ValueError(f"response head longer than {MAX_HEAD_BYTES} bytes") from None
    version, status, fields = _parse_head(head)
    while 100 <= status < 200:  # informational (we never ask for one): the answer follows
        version, status, fields = _parse_head(await reader.readuntil(b"\r\n\r\n"))
    keep = version == "HTTP/1.1" and "close" not in fields.get("connection", "").lower()
    if status in (204, 304):
        return status, b"", keep
    if "chunked" in fields.get("transfer-encoding", "").lower():
        body, complete = await _read_chunked(reader, max_bytes)
        return status, body, keep and complete
    length = fields.get("content-length")
    if length is not None:
        size = int(length)
        if size <= max_bytes:
            return status, await reader.readexactly(size), keep
        return status, await reader.readexactly(max_bytes), False  # the rest is not read
    received = bytearray()  # neither length nor chunks: the body ends when the server closes
    while len(received) < max_bytes and (chunk := await reader.read(max_bytes - len(received))):
        received += chunk
    return status, bytes(received), False


def _parse_head(head: bytes) -> tuple[str, int, dict[str, str]]:
    status_line, *header_lines = head[:-4].decode("latin-1").split("\r\n")
    version, _, rest = status_line.partition(" ")
    if not version.startswith("HTTP/1.") or not rest[:3].isdigit():
        raise ValueError(f"not an HTTP/1 response: {status_line[:40]!r}")
    fields: dict[str, str] = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    return version, int(rest[:3]), fields


async def _read_chunked(reader: asyncio.StreamReader, max_bytes: int) -> tuple[bytes, bool]:
    """The decoded body up to max_bytes, and whether it was read to its end."""
    body = bytearray()
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0].strip(), 16)
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass  # trailers
            return bytes(body), True
        chunk = await reader.readexactly(size)
        await reader.readexactly(2)
        body += chunk[: max_bytes - len(body)]
        if len(body) >= max_bytes:
            return bytes(body), False
