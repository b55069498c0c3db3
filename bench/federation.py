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
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

KEY = "bench-key"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(db: Path, port: int, config: Path) -> subprocess.Popen:
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


async def watch_callbacks(
    url: str, arrivals: dict[str, float], ready: asyncio.Event, all_in: asyncio.Event, total: int
) -> None:
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
                dispatch_id = payload["dispatch_id"]
                if dispatch_id in arrivals:
                    arrivals[f"duplicate:{dispatch_id}"] = time.perf_counter()
                arrivals[dispatch_id] = time.perf_counter()
                if len(arrivals) >= total:
                    all_in.set()


async def run(dispatches: int, concurrency: int, a_url: str, b_url: str) -> dict:
    headers = {"X-API-Key": KEY, "X-Agent-ID": "bench"}
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=a_url, headers=headers, limits=limits, timeout=60) as a:
        gate = asyncio.Semaphore(concurrency)

        async def create(n: int) -> str:
            async with gate:
                r = await a.post("/api/v1/intents", json={"title": f"bench {n}", "state": {"n": n}})
                return r.json()["id"]

        intents = await asyncio.gather(*(create(n) for n in range(dispatches)))
        arrivals: dict[str, float] = {}
        ready = asyncio.Event()
        all_in = asyncio.Event()
        watcher = asyncio.create_task(watch_callbacks(a_url, arrivals, ready, all_in, dispatches))
        await ready.wait()
        sent: dict[str, float] = {}

        async def dispatch(intent_id: str) -> None:
            async with gate:
                started = time.perf_counter()
                r = await a.post(
                    "/api/v1/federation/dispatch",
                    json={"intent_id": intent_id, "target_server": b_url, "agent_id": "worker"},
                )
                sent[r.json()["dispatch_id"]] = started

        first = time.perf_counter()
        await asyncio.gather(*(dispatch(i) for i in intents))
        try:
            await asyncio.wait_for(all_in.wait(), 300)
        except TimeoutError:
            pass  # reported as lost
        watcher.cancel()
    done = [arrivals[d] for d in sent if d in arrivals]
    latencies = sorted((arrivals[d] - sent[d]) * 1000 for d in sent if d in arrivals)
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0] * 99
    return {
        "dispatches": dispatches,
        "concurrency": concurrency,
        "round_trips": len(done),
        "lost": dispatches - len(done),
        "duplicates": len([k for k in arrivals if k.startswith("duplicate:")]),
        "round_trips_per_s": round(len(done) / (max(done) - first), 1) if done else 0,
        "p50_ms": round(quantiles[49], 1),
        "p99_ms": round(quantiles[98], 1),
        "max_ms": round(latencies[-1], 1) if latencies else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dispatches", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        a_port, b_port = free_port(), free_port()
        a_url, b_url = f"http://127.0.0.1:{a_port}", f"http://127.0.0.1:{b_port}"
        (root / "a.yaml").write_text(f'federation:\n  peers: ["{b_url}"]\n')
        (root / "b.yaml").write_text(f'federation:\n  peers: ["{a_url}"]\n')
        load_before = os.getloadavg()
        a = start(root / "a.db", a_port, root / "a.yaml")
        b = start(root / "b.db", b_port, root / "b.yaml")
        try:
            result = asyncio.run(run(args.dispatches, args.concurrency, a_url, b_url))
        finally:
            for proc in (a, b):
                proc.terminate()
                proc.wait(30)
        result["load_average_before"] = [round(x, 2) for x in load_before]
        result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
