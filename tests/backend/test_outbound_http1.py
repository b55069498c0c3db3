"""The outbound worker's keep-alive HTTP/1.1 client against a raw asyncio server whose every
answer the test writes by hand: reuse, chunked and capped answers, `Connection: close`, a
server that drops an idle connection, one that never answers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest

from backend.outbound.http1 import PostClient

Answer = Callable[[int], bytes]  # the n-th request on a connection -> raw answer bytes


class RawServer:
    def __init__(self, answer: Answer, *, close_after: int | None = None) -> None:
        self.answer = answer
        self.close_after = close_after
        self.connections = 0
        self.requests: list[bytes] = []
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> RawServer:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self.server is not None
        self.server.close()

    @property
    def url(self) -> httpx.URL:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return httpx.URL(f"http://127.0.0.1:{port}/hook?x=1")

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        served = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                self.requests.append(head + await reader.readexactly(length))
                writer.write(self.answer(served))
                await writer.drain()
                served += 1
                if self.close_after is not None and served >= self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def fixed(answer: bytes) -> Answer:
    return lambda _n: answer


async def post(client: PostClient, server: RawServer, max_bytes: int = 1000):
    return await client.post(
        server.url,
        host_header="hooks.example:8080",
        sni=None,
        body=b'{"a": 1}',
        headers={"Content-Type": "application/json", "webhook-id": "w1"},
        max_response_bytes=max_bytes,
    )


async def test_connections_are_kept_alive_and_the_request_is_what_was_asked():
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    async with RawServer(fixed(ok)) as server, PostClient(5) as client:
        assert await post(client, server) == (200, b"ok")
        assert await post(client, server) == (200, b"ok")
    assert server.connections == 1
    request = server.requests[0]
    assert request.startswith(b"POST /hook?x=1 HTTP/1.1\r\nHost: hooks.example:8080\r\n")
    assert b"\r\nwebhook-id: w1\r\n" in request and request.endswith(b'\r\n\r\n{"a": 1}')


async def test_chunked_and_capped_answers():
    chunked = (
        b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    )
    async with RawServer(fixed(chunked)) as server, PostClient(5) as client:
        assert await post(client, server) == (201, b"abcde")
        assert await post(client, server, max_bytes=4) == (201, b"abcd")  # not read to its end
        assert await post(client, server) == (201, b"abcde")
    assert server.connections == 2  # the capped answer's connection was not reused
    big = b"HTTP/1.1 500 Oops\r\nContent-Length: 10\r\n\r\n0123456789"
    async with RawServer(fixed(big)) as server, PostClient(5) as client:
        assert await post(client, server, max_bytes=3) == (500, b"012")
        assert await post(client, server) == (500, b"0123456789")
    assert server.connections == 2
    until_close = b"HTTP/1.0 200 OK\r\n\r\nhello world"
    async with RawServer(fixed(until_close), close_after=1) as server, PostClient(5) as client:
        assert await post(client, server) == (200, b"hello world")
        assert await post(client, server, max_bytes=5) == (200, b"hello")
    assert server.connections == 2


async def test_connection_close_and_a_dropped_idle_connection_are_handled():
    closing = b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"
    async with RawServer(fixed(closing)) as server, PostClient(5) as client:
        assert await post(client, server) == (204, b"")
        assert await post(client, server) == (204, b"")
    assert server.connections == 2
    # The server answers once per connection and then drops it, without saying so: the next
    # request on the kept connection finds it closed and goes once more on a new one.
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    async with RawServer(fixed(ok), close_after=1) as server, PostClient(5) as client:
        for _ in range(3):
            assert await post(client, server) == (200, b"")
    assert server.connections == 3
    assert len(server.requests) == 3
    # It drops the kept connection only once the next request is in (the race with a
    # keep-alive timeout): that request is sent once more on a new connection.
    first_only = RawServer(lambda n: ok if n == 0 else b"", close_after=2)
    async with first_only, PostClient(5) as client:
        assert await post(client, first_only) == (200, b"")
        assert await post(client, first_only) == (200, b"")
    assert first_only.connections == 2
    assert len(first_only.requests) == 3


async def test_errors_are_httpx_errors():
    silent = RawServer(fixed(b""))  # reads the request, never answers
    async with silent, PostClient(0.3) as client:
        with pytest.raises(httpx.ReadTimeout):
            await post(client, silent)
    garbage = b"SMTP ready\r\n\r\n"
    async with RawServer(fixed(garbage)) as server, PostClient(5) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await post(client, server)
    async with RawServer(fixed(b"")) as server:
        url = server.url
    async with PostClient(5) as client:
        with pytest.raises(httpx.ConnectError):
            await client.post(
                url, host_header="x", sni=None, body=b"", headers={}, max_response_bytes=10
            )
        with pytest.raises(httpx.LocalProtocolError):
            await client.post(
                url,
                host_header="x",
                sni=None,
                body=b"",
                headers={"X-Evil": "a\r\nInjected: 1"},
                max_response_bytes=10,
            )
