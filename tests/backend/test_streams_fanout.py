"""Fan-out: 200 subscribers on one stream each get all 1,000 events in order while a
subscriber that stops reading lags, overflows its buffer, and then catches up from the log.

One asyncio process, raw httpx streams, byte-level parsing: cheap enough for 2 cores."""

from __future__ import annotations

import asyncio
import re
import socket

import httpx

from tests.support import run_server

SUBSCRIBERS = 200
EVENTS = 1000
ID_LINE = re.compile(rb"(?m)^id: (\d+)$")
PAD = "x" * 400  # ~0.6 KB frames: the stalled reader's socket fills long before the end


class FrameIds:
    """Global sequences from a raw SSE byte stream (frames end with a blank line)."""

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.comments: list[bytes] = []
        self._rest = b""

    def feed(self, chunk: bytes) -> None:
        data = self._rest + chunk
        end = data.rfind(b"\n\n")
        if end < 0:
            self._rest = data
            return
        complete, self._rest = data[: end + 2], data[end + 2 :]
        self.ids += [int(m) for m in ID_LINE.findall(complete)]
        self.comments += re.findall(rb"(?m)^: ?(.*)$", complete)


async def subscriber(
    port: int, path: str, api_key: str, connected: asyncio.Event, go: asyncio.Event, n: int
) -> FrameIds:
    """A raw HTTP/1.1 SSE reader (no client library: 200 of them must be cheap). It reads
    nothing between `connected` and `go`; the stalled one is given a `go` that is set only
    after every event is published, so the server's writes to it back up meanwhile."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=4096)
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {api_key}\r\n"
        "Accept: text/event-stream\r\n\r\n".encode()
    )
    await writer.drain()
    first = b""
    while b": connected" not in first:
        first += await reader.read(4096)
    assert first.startswith(b"HTTP/1.1 200"), first[:100]
    connected.set()
    await go.wait()
    ids = FrameIds()
    # HTTP/1.1 chunked framing: each chunk the server sends holds whole SSE frames, so the
    # chunk-size lines never split an `id:` line; the raw bytes parse as they are.
    ids.feed(first.split(b"\r\n\r\n", 1)[1])
    try:
        while len(ids.ids) < n:
            chunk = await reader.read(65536)
            if not chunk:
                break
            ids.feed(chunk)
    finally:
        writer.close()
    return ids


async def publish(client: httpx.AsyncClient, intent_id: str) -> list[int]:
    sem = asyncio.Semaphore(16)

    async def one(n: int) -> int:
        async with sem:
            response = await client.post(
                f"/api/v1/intents/{intent_id}/events",
                json={"event_type": "comment", "payload": {"n": n, "pad": PAD}},
            )
            assert response.status_code == 201, response.text
            return response.json()["global_sequence"]

    return sorted(await asyncio.gather(*(one(n) for n in range(EVENTS))))


async def test_200_subscribers_get_every_event_in_order_while_one_lags(tmp_path):
    db = tmp_path / "oi.db"
    with run_server(db, sse_buffer_events=32, send_buffer_bytes=16384) as live:
        port = int(live.url.rsplit(":", 1)[1])
        headers = {"X-API-Key": live.api_key}
        async with httpx.AsyncClient(base_url=live.url, headers=headers, timeout=60) as client:
            created = await client.post("/api/v1/intents", json={"title": "fan-out"})
            intent_id = created.json()["id"]
            path = f"/api/v1/intents/{intent_id}/subscribe"
            live_now, published = asyncio.Event(), asyncio.Event()
            live_now.set()
            connected = [asyncio.Event() for _ in range(SUBSCRIBERS + 1)]
            readers = [
                asyncio.create_task(
                    subscriber(port, path, live.api_key, connected[i], live_now, EVENTS)
                )
                for i in range(SUBSCRIBERS)
            ]
            stalled = asyncio.create_task(
                subscriber(port, path, live.api_key, connected[-1], published, EVENTS)
            )
            async with asyncio.timeout(60):
                await asyncio.gather(*(c.wait() for c in connected))
            expected = await publish(client, intent_id)
            published.set()
            async with asyncio.timeout(180):
                received = await asyncio.gather(*readers)
                slow = await stalled
    assert len(expected) == EVENTS
    for ids in received:
        assert ids.ids == expected  # all of them, in order, none twice
    assert slow.ids == expected
    assert b"catching up from the log" in slow.comments  # it really overflowed
