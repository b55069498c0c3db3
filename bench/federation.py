"""Federation round trips: A dispatches intents to B; each is verified on B, creates B's
intent, and is answered by B's signed `accepted` callback, verified on A.

    .venv/bin/python bench/federation.py --dispatches 1000 --concurrency 32

Starts A and B (`python -m backend --federation`, each its own process, temporary
databases; B allowlists A by URL and fetches A's key from its manifest), creates the intents
on A, opens A's global SSE stream for `federation.callback`, then POSTs the dispatches with
`--concurrency` in flight. Round trip = the `accepted` callback's arrival on A's stream minus
the moment the dispatch POST was sent. Reports round trips per second (dispatches / time from
the first POST to the last callback), p50/p99/max, and checks every dispatch got exactly one
`accepted` callback (zero lost).

Because wall-clock throughput on a shared machine says little, it also reports the CPU time
(user + system) both server processes spent during the burst, per round trip, and the
round-trip latency of single dispatches sent one at a time to idle servers (`--idle`, the
latency a lone dispatch sees when the delivery worker is woken from sleep).
`--profile DIR` runs `py-spy record` on both servers during the burst (flame graphs in DIR).
`--postgres URL` serves A and B from two fresh schemas of that PostgreSQL database instead
of SQLite files (dropped afterwards).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

KEY = "bench-key"
POST_CONNECTIONS = 8
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """user + system CPU time of a process so far (/proc/PID/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def client_cpu_seconds() -> float:
    """user + system CPU of this benchmark client (it shares the 2 cores with the servers)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(db: Path | str, port: int, config: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "OPENINTENT_FEDERATION_CONFIG": str(config),
        "OPENINTENT_EGRESS_ALLOW_CIDRS": "127.0.0.0/8",
    }
    command = [sys.executable, "-m", "backend", "--federation", "--db", str(db)]
    proc = subprocess.Popen(
        [*command, "--port", str(port), "--api-key", KEY],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        env=env,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("server did not start")


class Callbacks:
    """`accepted` callbacks as they arrive on A's event stream, by dispatch id."""

    def __init__(self) -> None:
        self.arrivals: dict[str, float] = {}
        self.duplicates = 0
        self._waiting: dict[str, asyncio.Future] = {}

    def arrived(self, dispatch_id: str) -> None:
        if dispatch_id in self.arrivals:
            self.duplicates += 1
            return
        self.arrivals[dispatch_id] = time.perf_counter()
        waiter = self._waiting.pop(dispatch_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait_for(self, dispatch_id: str, seconds: float) -> bool:
        if dispatch_id not in self.arrivals:
            waiter = self._waiting.setdefault(dispatch_id, asyncio.Future())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter, seconds)
        return dispatch_id in self.arrivals


async def watch_callbacks(url: str, callbacks: Callbacks, ready: asyncio.Event) -> None:
    headers = {"X-API-Key": KEY}
    params = {"event_type": "federation.callback"}
    async with (
        httpx.AsyncClient(timeout=None) as client,
        client.stream("GET", f"{url}/api/v1/events/stream", headers=headers, params=params) as r,
    ):
        ready.set()
        async for line in r.aiter_lines():
            if not line.startswith("data: "):
                continue
            payload = json.loads(line[6:]).get("payload", {})
            if payload.get("state_delta") == {"status": "accepted"}:
                callbacks.arrived(payload["dispatch_id"])


FAILED_ATTEMPTS = (
    "SELECT substr(error, 1, 60), COUNT(*) FROM federation_attempts"
    " WHERE error IS NOT NULL GROUP BY 1"
)


def failed_attempts(db: Path | str) -> dict[str, int]:
    """Federation sends that needed another try, by error (a lost answer, a timeout...)."""
    if isinstance(db, str):
        return asyncio.run(_on_postgres(db, lambda conn: conn.fetch(FAILED_ATTEMPTS)))
    with sqlite3.connect(db) as conn:
        rows = conn.execute(FAILED_ATTEMPTS).fetchall()
    return dict(rows)


async def _on_postgres(url: str, action) -> dict:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        return {row[0]: row[1] for row in await action(conn) or []}
    finally:
        await conn.close()


def postgres_schemas(url: str, names: list[str], drop: bool = False) -> dict[str, str]:
    """A URL per name, each with its own schema of the database at `url` (created, or
    dropped with `drop`)."""
    from urllib.parse import urlencode, urlsplit, urlunsplit

    schemas = {name: f"bench_fed_{name}_{os.getpid()}" for name in names}
    verb = "DROP SCHEMA IF EXISTS {} CASCADE" if drop else "CREATE SCHEMA {}"

    async def act(conn):
        for schema in schemas.values():
            await conn.execute(verb.format(schema))

    asyncio.run(_on_postgres(url, act))
    parts = urlsplit(url)
    return {
        name: urlunsplit(parts._replace(query=urlencode({"search_path": schema})))
        for name, schema in schemas.items()
    }


def summary(latencies: list[float]) -> dict:
    latencies = sorted(latencies)
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return {
        "p50_ms": round(statistics.median(latencies), 1) if latencies else None,
        "p99_ms": round(quantiles[98], 1),
        "max_ms": round(latencies[-1], 1) if latencies else None,
    }


async def run(args: argparse.Namespace, a_url: str, b_url: str, pids: list[int]) -> dict:
    headers = {"X-API-Key": KEY, "X-Agent-ID": "bench"}
    concurrency = args.concurrency
    # Few connections: a POST takes milliseconds (the slot then waits for the callback, not
    # the connection), and httpcore's pool polls every connection it holds on every request
    # and response (with concurrency + 4 of them, the client cost more CPU than both
    # servers at 64 in flight).
    limits = httpx.Limits(
        max_connections=POST_CONNECTIONS, max_keepalive_connections=POST_CONNECTIONS
    )
    async with httpx.AsyncClient(base_url=a_url, headers=headers, limits=limits, timeout=60) as a:
        gate = asyncio.Semaphore(concurrency)

        async def create(n: int) -> str:
            async with gate:
                r = await a.post("/api/v1/intents", json={"title": f"bench {n}", "state": {"n": n}})
                return r.json()["id"]

        total = args.dispatches + args.idle + 1  # + the warm-up
        intents = await asyncio.gather(*(create(n) for n in range(total)))
        callbacks = Callbacks()
        ready = asyncio.Event()
        watcher = asyncio.create_task(watch_callbacks(a_url, callbacks, ready))
        await ready.wait()
        sent: dict[str, float] = {}

        async def dispatch(intent_id: str) -> str:
            started = time.perf_counter()
            r = await a.post(
                "/api/v1/federation/dispatch",
                json={"intent_id": intent_id, "target_server": b_url, "agent_id": "worker"},
            )
            dispatch_id = r.json()["dispatch_id"]
            sent[dispatch_id] = started
            return dispatch_id

        async def round_trip(intent_id: str) -> None:
            async with gate:  # closed loop: the slot is held until the callback is in
                await callbacks.wait_for(await dispatch(intent_id), 60)

        async def burst(intent_id: str) -> None:
            async with gate:  # open loop: the slot is held only for the dispatch POST
                await dispatch(intent_id)

        # Warm-up: the first dispatch makes B fetch A's manifest and opens the connections.
        await callbacks.wait_for(await dispatch(intents.pop()), 30)
        sent.clear()
        idle_intents, intents = intents[: args.idle], intents[args.idle :]
        cpu_before = sum(cpu_seconds(pid) for pid in pids)
        client_before = client_cpu_seconds()
        first = time.perf_counter()
        await asyncio.gather(*((burst if args.open_loop else round_trip)(i) for i in intents))
        await asyncio.gather(*(callbacks.wait_for(d, 60) for d in list(sent)))
        cpu_used = sum(cpu_seconds(pid) for pid in pids) - cpu_before
        client_used = client_cpu_seconds() - client_before
        burst_sent = dict(sent)
        idle_latencies = []
        for intent_id in idle_intents:  # one at a time, the servers idle in between
            await asyncio.sleep(0.3)
            dispatch_id = await dispatch(intent_id)
            if await callbacks.wait_for(dispatch_id, 30):
                idle_latencies.append((callbacks.arrivals[dispatch_id] - sent[dispatch_id]) * 1000)
        watcher.cancel()
    arrivals = callbacks.arrivals
    done = [arrivals[d] for d in burst_sent if d in arrivals]
    latencies = [(arrivals[d] - burst_sent[d]) * 1000 for d in burst_sent if d in arrivals]
    idle = summary(idle_latencies)
    return {
        "dispatches": len(burst_sent),
        "concurrency": concurrency,
        "loop": "open" if args.open_loop else "closed",
        "round_trips": len(done),
        "lost": len(burst_sent) - len(done),
        "duplicates": callbacks.duplicates,
        "round_trips_per_s": round(len(done) / (max(done) - first), 1) if done else 0,
        **summary(latencies),
        "server_cpu_s": round(cpu_used, 2),
        "cpu_ms_per_round_trip": round(cpu_used * 1000 / len(done), 2) if done else None,
        "client_cpu_ms_per_round_trip": round(client_used * 1000 / len(done), 2) if done else None,
        "idle_dispatches": len(idle_latencies),
        "idle_p50_ms": idle["p50_ms"],
        "idle_max_ms": idle["max_ms"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dispatches", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--idle", type=int, default=20, help="single dispatches after the burst")
    parser.add_argument(
        "--open-loop",
        action="store_true",
        help="send every dispatch as fast as A takes them (the slot is not held until the"
        " callback): measures the backlog, not the round trip",
    )
    parser.add_argument("--profile", type=Path, help="py-spy profiles of both servers here")
    parser.add_argument("--postgres", help="a PostgreSQL URL: A and B in two schemas of it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        a_port, b_port = free_port(), free_port()
        a_url, b_url = f"http://127.0.0.1:{a_port}", f"http://127.0.0.1:{b_port}"
        (root / "a.yaml").write_text(f'federation:\n  peers: ["{b_url}"]\n')
        (root / "b.yaml").write_text(f'federation:\n  peers: ["{a_url}"]\n')
        load_before = os.getloadavg()
        dbs: dict[str, Path | str] = {name: root / f"{name}.db" for name in ("a", "b")}
        if args.postgres:
            dbs.update(postgres_schemas(args.postgres, ["a", "b"]))
        a = start(dbs["a"], a_port, root / "a.yaml")
        b = start(dbs["b"], b_port, root / "b.yaml")
        spies = []
        if args.profile:
            args.profile.mkdir(parents=True, exist_ok=True)
            for name, proc in (("a", a), ("b", b)):
                spy = [str(Path(sys.executable).with_name("py-spy")), "record", "--nonblocking"]
                spy += ["-p", str(proc.pid), "-r", "200", "-f", "raw"]
                spy += ["-o", str(args.profile / f"{name}.txt")]
                spies.append(subprocess.Popen(spy, stdout=subprocess.DEVNULL))
        try:
            result = asyncio.run(run(args, a_url, b_url, [a.pid, b.pid]))
            result["failed_attempts"] = {name: failed_attempts(dbs[name]) for name in ("a", "b")}
            result["store"] = "postgres" if args.postgres else "sqlite"
        finally:
            for spy in spies:
                spy.send_signal(2)  # SIGINT: py-spy writes its flame graph and exits
                spy.wait(60)
            for proc in (a, b):
                proc.terminate()
                proc.wait(30)
            if args.postgres:
                postgres_schemas(args.postgres, ["a", "b"], drop=True)
        result["load_average_before"] = [round(x, 2) for x in load_before]
        result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
