"""OAP chains: hops per second through local echo agents, durable (ours) beside OAP 0.3.0's
own in-memory `chain()` over the same agents in the same run.

Ten echo agents (`a1`..`a10`, one uvicorn process serving each under its own path) hand off
to the next; `a10` answers without a handoff, so each chain is exactly 10 hops. Ours: the real
server (`python -m backend`, a fresh SQLite file, synchronous=FULL), one intent per chain,
`POST /intents/{id}/oap/chains {"wait": true}`: every hop is checkpointed (hop row, envelope,
intent state and events in one transaction) before the next is sent. OAP's: `OAPRouter` with
`HTTPAdapter`s, `chain()` on the same first envelope, nothing saved. Both run the same number
of chains, one at a time and then `--concurrency` at a time.

    .venv/bin/python bench/oap.py                 # --chains 40 --concurrency 8
    .venv/bin/python bench/oap.py --json
    .venv/bin/python bench/oap.py --db postgresql://user@127.0.0.1:5432/bench   # PostgreSQL

Targets: ours at least as fast as OAP's in-memory chain, and at least 300 hops/s.
Needs `open-agent-protocol==0.3.0` (installed with --no-deps, see pyproject.toml).
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
from pathlib import Path

import httpx

# This file is named oap.py: its folder must not shadow the `oap` package it measures.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

HOPS = 10
KEY = "bench-key"
AGENT_APP = r"""
import json

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    name = scope["path"].strip("/").split("/")[0]
    index = int(name[1:])
    if scope["method"] == "GET":
        body = {"agent_id": name, "capabilities": [name], "description": "echo", "status": "ok"}
    else:
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        envelope = json.loads(raw)
        body = {"result": {"echo": index, "steps": len(envelope["steps_taken"])},
                "memory": {name: index}}
        if index < HOPS:
            body["handoff"] = {"next_agent": f"a{index + 1}", "reason": "next"}
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": data})
"""


def cpu_seconds(pid: int) -> float:
    """User+system CPU time of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{url}: process exited")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise SystemExit(f"{url} did not start")


def start_agents(workdir: Path) -> tuple[subprocess.Popen, str]:
    module = workdir / "echo_agents.py"
    module.write_text(f"HOPS = {HOPS}\n{AGENT_APP}")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "echo_agents:app", "--port", str(port),
         "--log-level", "warning", "--no-access-log"],
        cwd=workdir,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    wait_healthy(f"{base}/a1/", proc)
    return proc, base


def start_server(workdir: Path, db: str | None) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "OPENINTENT_EGRESS_ALLOW_CIDRS": "127.0.0.0/8"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "backend", "--db", db or str(workdir / "bench.db"), "--port",
         str(port), "--api-key", KEY],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    wait_healthy(f"{url}/health", proc)
    return proc, url


async def ours(url: str, agents: str, chains: int, concurrency: int) -> dict:
    headers = {"X-API-Key": KEY, "X-Agent-ID": "bench"}
    limits = httpx.Limits(max_connections=concurrency + 4)
    async with httpx.AsyncClient(
        base_url=f"{url}/api/v1", headers=headers, timeout=120, limits=limits
    ) as api:
        for i in range(1, HOPS + 1):  # replace: a reused database names an earlier run's URL
            registered = await api.post(
                "/oap/agents", params={"replace": "true"}, json={"url": f"{agents}/a{i}"}
            )
            registered.raise_for_status()
        intents = []
        for n in range(chains):
            created = await api.post("/intents", json={"title": f"start a1 (chain {n})"})
            intents.append(created.json()["id"])
        gate = asyncio.Semaphore(concurrency)

        async def one(intent_id: str) -> int:
            async with gate:
                response = await api.post(f"/intents/{intent_id}/oap/chains", json={"wait": True})
                chain = response.json()
                assert chain["status"] == "completed", chain
                return chain["hops_done"]

        started = time.perf_counter()
        hops = sum(await asyncio.gather(*(one(i) for i in intents)))
        elapsed = time.perf_counter() - started
    return {"chains": chains, "hops": hops, "seconds": round(elapsed, 3),
            "hops_per_s": round(hops / elapsed, 1)}  # fmt: skip


async def theirs(agents: str, chains: int, concurrency: int) -> dict:
    import oap
    from oap.adapters.http import HTTPAdapter

    router = oap.OAPRouter()
    for i in range(1, HOPS + 1):
        router.register(f"a{i}", HTTPAdapter(f"a{i}", f"{agents}/a{i}"), [f"a{i}"])
    gate = asyncio.Semaphore(concurrency)

    async def one(n: int) -> int:
        async with gate:
            final, visited = await router.chain(oap.TaskEnvelope(goal=f"start a1 (chain {n})"))
            assert final.handoff is None and len(visited) == HOPS
            return len(visited)

    started = time.perf_counter()
    hops = sum(await asyncio.gather(*(one(n) for n in range(chains))))
    elapsed = time.perf_counter() - started
    return {"chains": chains, "hops": hops, "seconds": round(elapsed, 3),
            "hops_per_s": round(hops / elapsed, 1)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chains", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--db", help="a PostgreSQL URL instead of a fresh SQLite file")
    args = parser.parse_args()
    results: dict[str, dict] = {"load_before": list(os.getloadavg())}
    with tempfile.TemporaryDirectory(prefix="oap-bench-") as tmp:
        workdir = Path(tmp)
        agents_proc, agents = start_agents(workdir)
        server_proc, url = start_server(workdir, args.db)
        try:
            asyncio.run(ours(url, agents, 4, 1))  # warm-up: registration, first connections
            asyncio.run(theirs(agents, 4, 1))
            for label, concurrency in (("sequential", 1), ("concurrent", args.concurrency)):
                cpu = cpu_seconds(server_proc.pid)
                row = asyncio.run(ours(url, agents, args.chains, concurrency))
                # Server CPU per hop: what a hop costs whatever else the machine is doing.
                row["server_cpu_us_per_hop"] = round(
                    (cpu_seconds(server_proc.pid) - cpu) / row["hops"] * 1e6
                )
                results[f"ours_{label}"] = row
                results[f"oap_{label}"] = asyncio.run(theirs(agents, args.chains, concurrency))
        finally:
            for proc in (server_proc, agents_proc):
                proc.terminate()
                proc.wait(10)
    results["load_after"] = list(os.getloadavg())
    results["concurrency"] = {"sequential": 1, "concurrent": args.concurrency}
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"load average before {results['load_before']}, after {results['load_after']}")
    print(f"{'run':<24}{'chains':>8}{'hops':>8}{'seconds':>10}{'hops/s':>10}")
    for label in ("sequential", "concurrent"):
        for who in ("ours", "oap"):
            row = results[f"{who}_{label}"]
            name = f"{who} {label}" + (f" x{args.concurrency}" if label == "concurrent" else "")
            print(f"{name:<24}{row['chains']:>8}{row['hops']:>8}{row['seconds']:>10}"
                  f"{row['hops_per_s']:>10}")  # fmt: skip
    for label in ("sequential", "concurrent"):
        cost = results[f"ours_{label}"]["server_cpu_us_per_hop"]
        print(f"ours {label}: server CPU {cost} us per hop (~{1e6 / cost:.0f} hops/s per core)")
    for label in ("sequential", "concurrent"):
        ratio = results[f"ours_{label}"]["hops_per_s"] / results[f"oap_{label}"]["hops_per_s"]
        print(f"{label}: ours / OAP = {ratio:.2f}")


if __name__ == "__main__":
    main()
