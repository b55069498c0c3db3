"""Load benchmark for the server foundation: throughput and p99 at 64 connections.

Starts `python -m backend` on a fresh SQLite file (durability FULL, the default) pinned to
CPU 0, and drives it with wrk pinned to CPU 1, one Lua script per scenario (bench/*.lua).
Not a test: numbers go to bench/README.md with the command that produced them.

    .venv/bin/python bench/load.py [--duration 10] [--connections 64] [--only patch_own ...]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from backend.settings import load_settings

HERE = Path(__file__).resolve().parent
KEY = "bench-key"
HEADERS = {"X-API-Key": KEY, "X-Agent-ID": "bench", "Content-Type": "application/json"}
API = "/api/v1"

# name -> (lua script, what the target is, target in requests/s or None)
SCENARIOS = {
    "health": ("health.lua", "health (calibration: no auth, no db)", None),
    "create": ("create.lua", "create intent", None),
    "get": ("get.lua", "get intent", 8000),
    "patch_own": ("patch_own.lua", "state patch, own intent per connection", 5000),
    "patch_hot": ("patch_hot.lua", "state patch, one hot intent (contention)", None),
    "append": ("append.lua", "append event", 5000),
    "list": ("list.lua", "list 100 events", None),
    "list_intents": ("list_intents.lua", "list 50 intents", None),
    "list_tail": ("list_tail.lua", "list the last 100 events (never kept)", None),
    "list_intents_uncached": ("list_intents_uncached.lua", "list 50 intents, 160 pages", None),
}
P99_TARGET_MS = 50


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pinned(cpu: int, command: list[str]) -> list[str]:
    """Pin to one CPU when taskset exists and there are at least two."""
    if shutil.which("taskset") and (os.cpu_count() or 1) >= 2:
        return ["taskset", "-c", str(cpu), *command]
    return command


def start_server(db: Path | str, port: int) -> subprocess.Popen:
    command = [sys.executable, "-m", "backend", "--db", str(db), "--port", str(port)]
    proc = subprocess.Popen(
        pinned(0, [*command, "--api-key", KEY]),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
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


def prepare(url: str, connections: int) -> dict[str, list[str]]:
    """Intents for each scenario, made before the clock starts."""
    with httpx.Client(base_url=url, headers=HEADERS, timeout=30) as client:

        def make(n: int) -> list[str]:
            return [
                client.post(f"{API}/intents", json={"title": f"bench {i}"}).json()["id"]
                for i in range(n)
            ]

        listed = make(1)
        for n in range(150):
            client.post(
                f"{API}/intents/{listed[0]}/events",
                json={"event_type": "comment", "payload": {"n": n, "text": "x" * 40}},
            ).raise_for_status()
        return {
            "health": [],
            "create": [],
            "get": make(connections),
            # Spares: wrk calls request() once more per thread than it sends, and an intent
            # popped for a request that is never sent would leave one connection without.
            "patch_own": make(connections + 16),
            "patch_hot": make(1),
            "append": make(connections),
            "list": listed,
            "list_intents": [],
            "list_tail": listed,
            "list_intents_uncached": [],
        }


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc): per-request CPU cost is the figure
    that stays meaningful when the machine is shared and wall-clock throughput is not."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_wrk(
    url: str, script: str, args: list[str], connections: int, duration: int, server_pid: int
) -> dict:
    command = pinned(
        1,
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{duration}s",
            "--timeout",
            "5s",
            *(f"-H{k}: {v}" for k, v in HEADERS.items()),
            "-s",
            script,
            url,
            "--",
            *args,
        ],
    )
    cpu_before = cpu_seconds(server_pid)
    out = subprocess.run(command, cwd=HERE, capture_output=True, text=True, check=True).stdout
    server_cpu = cpu_seconds(server_pid) - cpu_before
    match = re.search(r"^BENCH (.*)$", out, re.MULTILINE)
    if not match:
        raise SystemExit(f"wrk printed no BENCH line:\n{out}")
    fields = {k: int(v) for k, v in (pair.split("=") for pair in match.group(1).split())}
    seconds = fields["duration_us"] / 1e6
    return {
        "rps": fields["requests"] / seconds,
        "ok_rps": fields["ok"] / seconds,
        "ok": fields["ok"],
        "conflicts": fields["conflicts"],
        "failed": fields["failed"],
        "socket_errors": fields["socket_errors"],
        "p50_ms": fields["p50_us"] / 1000,
        "p99_ms": fields["p99_us"] / 1000,
        "max_ms": fields["max_us"] / 1000,
        "cpu_us_per_request": server_cpu * 1e6 / max(1, fields["requests"]),
        "server_cpu_share": server_cpu / seconds,
    }


def verdict(name: str, result: dict) -> str:
    target = SCENARIOS[name][2]
    misses = []
    if target and result["ok_rps"] < target:
        misses.append(f"< {target}/s")
    if result["p99_ms"] >= P99_TARGET_MS:
        misses.append(f"p99 >= {P99_TARGET_MS} ms")
    if result["failed"] or result["socket_errors"]:
        misses.append("errors")
    return "MISSED " + ", ".join(misses) if misses else "ok"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per scenario")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--only", nargs="*", choices=sorted(SCENARIOS), help="scenarios to run")
    parser.add_argument("--json", action="store_true", help="print results as JSON too")
    parser.add_argument(
        "--db",
        help="database to serve (default: a fresh SQLite file); a postgresql:// URL must name"
        " an empty database",
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is required: apt-get install -y wrk")

    with tempfile.TemporaryDirectory(prefix="oi-bench-") as tmp:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = start_server(args.db or Path(tmp) / "bench.db", port)
        try:
            ids = prepare(url, args.connections)
            results = {}
            print(f"HTTP server: {load_settings({}).http}; load average {os.getloadavg()[0]:.2f}")
            print(
                f"{'scenario':44} {'req/s':>8} {'ok/s':>8} {'p50 ms':>7} {'p99 ms':>7}"
                f" {'CPU us/req':>10} {'CPU use':>7}  verdict"
            )
            for name in args.only or SCENARIOS:
                script, label, _ = SCENARIOS[name]
                result = run_wrk(
                    url, script, ids[name], args.connections, args.duration, server.pid
                )
                results[name] = result
                print(
                    f"{label:44} {result['rps']:8.0f} {result['ok_rps']:8.0f}"
                    f" {result['p50_ms']:7.1f} {result['p99_ms']:7.1f}"
                    f" {result['cpu_us_per_request']:10.0f} {result['server_cpu_share']:7.0%}"
                    f"  {verdict(name, result)}"
                    + (f"  ({result['conflicts']} x 409)" if result["conflicts"] else ""),
                    flush=True,
                )
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(30)
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
