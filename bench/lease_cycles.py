"""Lease acquire+release cycles per second over N keep-alive connections.

Starts the real server (`python -m backend`) as a child process on a loopback port with a
fresh SQLite file, creates one intent, then runs N client connections that each loop:
POST /api/v1/intents/{id}/leases (a scope of their own) -> DELETE .../leases/{lease_id}.
A cycle counts when its release is acknowledged (both writes durable: synchronous=FULL).

The client speaks HTTP/1.1 over raw asyncio streams (no HTTP library) so that, on a small
machine, the load generator costs as little CPU as possible.

    .venv/bin/python bench/lease_cycles.py --connections 64 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

API_KEY = "bench-key"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(db: Path, port: int, cpu: int | None) -> subprocess.Popen:
    command = [
        sys.executable, "-m", "backend", "--host", "127.0.0.1", "--port", str(port),
        "--db", str(db), "--api-key", API_KEY,
    ]  # fmt: skip
    server = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        preexec_fn=(lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).read()
            return server
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("server did not start")


def create_intent(port: int) -> str:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/intents",
        data=json.dumps({"title": "lease bench"}).encode(),
        headers={"X-API-Key": API_KEY, "X-Agent-ID": "bench", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read())["id"]


class Connection:
    """One keep-alive HTTP/1.1 connection: send a request, read status and JSON body."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, agent: str):
        self.reader, self.writer = reader, writer
        self.head = f"Host: 127.0.0.1\r\nX-API-Key: {API_KEY}\r\nX-Agent-ID: {agent}\r\n"

    async def call(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        extra = f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        self.writer.write(f"{method} {path} HTTP/1.1\r\n{self.head}{extra}\r\n".encode() + body)
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        return int(status_line.split()[1]), await self.reader.readexactly(length)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run_load(
    port: int, intent_id: str, connections: int, seconds: float, warmup: float, server_pid: int
):
    loop = asyncio.get_running_loop()
    counts = [0] * connections
    start_at = loop.time() + warmup
    stop_at = start_at + seconds
    latencies: list[float] = []
    server_cpu: list[float] = []

    async def meter() -> None:
        await asyncio.sleep(max(0.0, start_at - loop.time()))
        server_cpu.append(cpu_seconds(server_pid))
        await asyncio.sleep(max(0.0, stop_at - loop.time()))
        server_cpu.append(cpu_seconds(server_pid))

    async def worker(index: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connection = Connection(reader, writer, f"agent-{index}")
        base = f"/api/v1/intents/{intent_id}/leases"
        body = json.dumps({"scope": f"scope-{index}", "duration_seconds": 60}).encode()
        while (now := loop.time()) < stop_at:
            status, payload = await connection.call("POST", base, body)
            if status != 201:
                raise SystemExit(f"acquire failed: {status} {payload[:200]!r}")
            lease_id = json.loads(payload)["id"]
            status, payload = await connection.call("DELETE", f"{base}/{lease_id}")
            if status != 200:
                raise SystemExit(f"release failed: {status} {payload[:200]!r}")
            if now >= start_at:
                counts[index] += 1
                latencies.append(loop.time() - now)
        writer.close()

    await asyncio.gather(meter(), *(worker(i) for i in range(connections)))
    latencies.sort()
    return sum(counts), latencies, server_cpu[1] - server_cpu[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--server-cpu", type=int, default=0, help="pin the server; -1: no pin")
    parser.add_argument("--client-cpu", type=int, default=1, help="pin the client; -1: no pin")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        server = start_server(
            Path(tmp) / "bench.db", port, None if args.server_cpu < 0 else args.server_cpu
        )
        try:
            if args.client_cpu >= 0:
                os.sched_setaffinity(0, {args.client_cpu})
            intent_id = create_intent(port)
            cycles, latencies, cpu = asyncio.run(
                run_load(port, intent_id, args.connections, args.seconds, args.warmup, server.pid)
            )
        finally:
            server.terminate()
            server.wait(30)
    rate = cycles / args.seconds
    p50 = latencies[len(latencies) // 2] * 1000 if latencies else 0.0
    p99 = latencies[int(len(latencies) * 0.99)] * 1000 if latencies else 0.0
    print(
        f"lease acquire+release: {rate:,.0f} cycles/s ({2 * rate:,.0f} writes/s) over"
        f" {args.connections} connections, {args.seconds:g} s; cycle p50 {p50:.1f} ms,"
        f" p99 {p99:.1f} ms; server CPU {1e6 * cpu / max(cycles, 1):,.0f} us/cycle"
        f" ({100 * cpu / args.seconds:.0f}% of one core); load average {os.getloadavg()[0]:.2f};"
        f" HTTP server {http_server()}"
    )


def http_server() -> str:
    """What `python -m backend` will run here: the same settings layers (env, config file)."""
    from backend.settings import load_settings

    return load_settings({}).http


if __name__ == "__main__":
    main()
