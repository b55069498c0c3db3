"""SSE fan-out benchmark: N subscribers on one stream while events are appended at a rate.

    .venv/bin/python bench/fanout.py --subscribers 500 --rate 500 --seconds 20

Starts the server (`python -m backend`, via bench/load.py: pinned to CPU 0 when possible)
in its own process on a loopback port with a temporary database, opens the subscribers as
raw HTTP/1.1 SSE readers spread over `--procs` reader processes (uvloop), then appends
`comment` events at `--rate` per second on a fixed schedule. Each event carries its send
time; a reader notes when the frame arrived.
Latency = arrival - send: the POST, the durable commit (fsync) and the fan-out together.
Reports p50/p99/max and checks every reader got every event exactly once, in order.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import re
import socket
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from load import KEY as API_KEY
from load import free_port, start_server

FRAME = re.compile(rb'id: (\d+)\nevent: [^\n]*\ndata: [^\n]*"t":([0-9.]+)')


async def reader(port: int, path: str, ready, expect: int, done_at: float, out: list) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    stream, writer = await asyncio.open_connection(sock=sock)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {API_KEY}\r\n\r\n".encode())
    head = b""
    while b": connected" not in head:
        head += await stream.read(65536)
    ready()
    ids: list[int] = []
    latencies: list[float] = []
    rest = b""
    while len(ids) < expect and time.time() < done_at:
        try:
            async with asyncio.timeout(max(0.1, done_at - time.time())):
                chunk = await stream.read(262144)
        except TimeoutError:
            break
        if not chunk:
            break
        now = time.time()
        data = rest + chunk
        end = data.rfind(b"\n\n")
        if end < 0:
            rest = data
            continue
        complete, rest = data[: end + 2], data[end + 2 :]
        for seq, sent in FRAME.findall(complete):
            ids.append(int(seq))
            latencies.append(now - float(sent))
    writer.close()
    out.append((ids, latencies))


def reader_process(
    port: int, path: str, count: int, expect: int, ready_queue, done_at: float, results
):
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass

    async def main() -> None:
        out: list = []
        connected = 0

        def ready() -> None:
            nonlocal connected
            connected += 1
            if connected == count:
                ready_queue.put(count)

        await asyncio.gather(
            *(reader(port, path, ready, expect, done_at, out) for _ in range(count))
        )
        results.put(out)

    asyncio.run(main())


async def publish(port: int, intent_id: str, rate: float, seconds: float) -> list[int]:
    """Append events on a fixed schedule over a pool of raw keep-alive connections (an HTTP
    client library would cost the bench more CPU than the server spends per request)."""
    total = int(rate * seconds)
    due: asyncio.Queue = asyncio.Queue()
    seqs: list[int] = []
    path = f"/api/v1/intents/{intent_id}/events"

    async def connection() -> None:
        stream, writer = await asyncio.open_connection("127.0.0.1", port)
        while (n := await due.get()) is not None:
            body = b'{"event_type":"comment","payload":{"n":%d,"t":%.6f}}' % (n, time.time())
            writer.write(
                b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: %s\r\n"
                b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                % (path.encode(), API_KEY.encode(), len(body), body)
            )
            head = await stream.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 201"), head
            length = int(re.search(rb"(?i)content-length: (\d+)", head).group(1))
            answer = await stream.readexactly(length)
            seqs.append(int(re.search(rb'"global_sequence":(\d+)', answer).group(1)))
        writer.close()

    workers = [asyncio.create_task(connection()) for _ in range(16)]
    start = time.perf_counter()
    for n in range(total):
        delay = start + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        due.put_nowait(n)
    for _ in workers:
        due.put_nowait(None)
    await asyncio.gather(*workers)
    return sorted(seqs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=500)
    parser.add_argument("--rate", type=float, default=500, help="events per second")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--procs", type=int, default=2, help="reader processes")
    parser.add_argument("--stream", choices=["intent", "global"], default="intent")
    args = parser.parse_args()

    port = free_port()
    tmp = Path(tempfile.mkdtemp(prefix="oi-fanout-"))
    server = start_server(tmp / "bench.db", port)  # pinned to CPU 0 when possible
    url = f"http://127.0.0.1:{port}"
    try:
        intent = httpx.post(
            f"{url}/api/v1/intents", json={"title": "fan-out"}, headers={"X-API-Key": API_KEY}
        ).json()
        path = (
            f"/api/v1/intents/{intent['id']}/subscribe"
            if args.stream == "intent"
            else "/api/v1/events/stream"
        )
        ctx = mp.get_context("spawn")
        ready_queue, results = ctx.Queue(), ctx.Queue()
        settle = 10 + args.subscribers / 100  # connect time
        done_at = time.time() + settle + args.seconds * 10 + 60  # only a safety bound
        shares = [args.subscribers // args.procs] * args.procs
        shares[0] += args.subscribers - sum(shares)
        procs = [
            ctx.Process(
                target=reader_process,
                args=(port, path, n, int(args.rate * args.seconds), ready_queue, done_at, results),
            )
            for n in shares
        ]
        for proc in procs:
            proc.start()
        for _ in procs:
            ready_queue.get(timeout=120)
        started = time.perf_counter()
        expected = asyncio.run(publish(port, intent["id"], args.rate, args.seconds))
        publish_seconds = time.perf_counter() - started
        outs = [
            item for _ in procs for item in results.get(timeout=args.seconds * 10 + settle + 120)
        ]
        for proc in procs:
            proc.join(10)
    finally:
        server.terminate()
        server.wait(10)

    lost = sum(len(set(expected) - set(ids)) for ids, _ in outs)
    dupes = sum(len(ids) - len(set(ids)) for ids, _ in outs)
    out_of_order = sum(ids != sorted(ids) for ids, _ in outs)
    latencies = sorted(lat for _, lats in outs for lat in lats)
    q = statistics.quantiles(latencies, n=100)
    print(
        f"subscribers={args.subscribers} rate={args.rate:g}/s seconds={args.seconds:g} "
        f"events={len(expected)} (published in {publish_seconds:.1f}s) "
        f"frames={len(latencies)}"
    )
    print(
        f"latency ms: p50={q[49] * 1000:.1f} p90={q[89] * 1000:.1f} p99={q[98] * 1000:.1f}"
        f" max={latencies[-1] * 1000:.1f}"
    )
    print(f"lost={lost} duplicates={dupes} out_of_order_streams={out_of_order}")


if __name__ == "__main__":
    main()
