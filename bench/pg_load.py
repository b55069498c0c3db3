"""Writes on SQLite, on one PostgreSQL instance and on two instances of one PostgreSQL
database, side by side in one run (issue 12): creates, patches and appends per second, p99,
and the CPU each request cost the server process(es) and PostgreSQL's backends.

Every configuration gets fresh data: a new SQLite file, or a new schema in the database
named by `--postgres` (dropped at the end), so the two PostgreSQL configurations start alike.
Servers are pinned to CPU 0 and wrk to CPU 1 as in bench/load.py; the two instances share
CPU 0 (this machine has two cores), each driven by its own wrk with half the connections,
so the two-instance figure shows what coordinating through the database costs, not what a
second machine would add. PostgreSQL's processes are not pinned.

PostgreSQL CPU: the user+system time of the backends serving the bench's servers (found by
their `application_name` in `pg_stat_activity`, read from /proc: PostgreSQL must run on this
machine for that column; WAL writer and checkpointer are not counted). writes/COMMIT: the
successful writes divided by the write transactions committed meanwhile (updates of the
`event_head` row in `pg_stat_user_tables`), i.e. the writers' mean batch. Before each
PostgreSQL configuration it prints the median round trip and one-row COMMIT of that
moment: what a batch waits for.

    runuser -u postgres -- psql -c "CREATE DATABASE bench OWNER me"
    .venv/bin/python bench/pg_load.py --postgres postgresql://me:pw@127.0.0.1:5432/bench
        [--duration 10] [--connections 64] [--only create patch_own append] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import HEADERS, cpu_seconds, free_port, pinned, prepare, start_server

HERE = Path(__file__).resolve().parent
APPLICATION = "openintent-bench"
WRITES = {
    "create": ("create.lua", "create intent"),
    "patch_own": ("patch_own.lua", "state patch, own intent"),
    "append": ("append.lua", "append event"),
}


def with_settings(url: str, **settings: str) -> str:
    """The URL with server settings added (asyncpg passes unknown URL parameters on)."""
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(settings)) if q)
    return urlunsplit(parts._replace(query=query))


async def _pg(url: str, sql: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch(sql)
    finally:
        await conn.close()


def pg_backends(url: str) -> list[int]:
    rows = asyncio.run(
        _pg(
            url,
            "SELECT pid FROM pg_stat_activity"
            f" WHERE application_name = '{APPLICATION}' AND pid <> pg_backend_pid()",
        )
    )
    return [r[0] for r in rows]


def pg_cpu(pids: list[int]) -> float | None:
    """CPU seconds of these PostgreSQL backends; None when they are not on this machine."""
    total, seen = 0.0, False
    for pid in pids:
        try:
            total += cpu_seconds(pid)
            seen = True
        except (FileNotFoundError, ProcessLookupError):
            continue  # a pool connection closed meanwhile, or PostgreSQL is elsewhere
        except PermissionError:
            return None
    return total if seen else None


def batches(url: str) -> int:
    """Write transactions that appended events so far in the bench's schema: each ends by
    updating the one `event_head` row (PostgreSQL reports a backend's counts when it goes
    idle, at most once a second: read after a pause)."""
    rows = asyncio.run(
        _pg(
            url,
            "SELECT pg_stat_clear_snapshot(), n_tup_upd FROM pg_stat_user_tables"
            " WHERE schemaname = current_schema() AND relname = 'event_head'",
        )
    )
    return rows[0][1]


async def _latencies(url: str, schema: str) -> tuple[float, float]:
    """(median round trip of `SELECT 1`, median single-row COMMIT) in seconds, now."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f"CREATE TABLE {schema}.probe (n int)")
        trips, flushes = [], []
        for _ in range(200):
            start = time.perf_counter()
            await conn.fetchval("SELECT 1")
            trips.append(time.perf_counter() - start)
        for _ in range(100):
            start = time.perf_counter()
            await conn.execute(f"INSERT INTO {schema}.probe VALUES (1)")
            flushes.append(time.perf_counter() - start)
        await conn.execute(f"DROP TABLE {schema}.probe")
        return statistics.median(trips), statistics.median(flushes)
    finally:
        await conn.close()


def wrk_command(url: str, script: str, args: list[str], connections: int, duration: int) -> list:
    return pinned(
        1,
        ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--timeout", "5s",
         *(f"-H{k}: {v}" for k, v in HEADERS.items()), "-s", script, url, "--", *args],
    )  # fmt: skip


def run_scenario(
    urls: list[str], servers: list[subprocess.Popen], name: str, ids: list[str], args, pg: str
) -> dict:
    """One scenario against every server at once, the connections and intents split."""
    script = WRITES[name][0]
    n = len(urls)
    connections = args.connections // n
    server_before = sum(cpu_seconds(s.pid) for s in servers)
    batches_before = batches(pg) if pg else 0
    backends = pg_backends(pg) if pg else []
    pg_before = pg_cpu(backends) if backends else None
    runs = [
        subprocess.Popen(
            wrk_command(url, script, ids[i::n], connections, args.duration),
            cwd=HERE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for i, url in enumerate(urls)
    ]
    outputs = [run.communicate()[0] for run in runs]
    server_cpu = sum(cpu_seconds(s.pid) for s in servers) - server_before
    pg_after = pg_cpu(backends) if backends else None
    if pg:
        time.sleep(1.5)  # the backends' counts reach pg_stat_database when they go idle
    committed = batches(pg) - batches_before if pg else None
    requests = ok = failed = 0
    seconds = 0.0
    p99 = 0.0
    for out in outputs:
        match = re.search(r"^BENCH (.*)$", out, re.MULTILINE)
        if not match:
            raise SystemExit(f"wrk printed no BENCH line:\n{out}")
        fields = {k: int(v) for k, v in (pair.split("=") for pair in match.group(1).split())}
        requests += fields["requests"]
        ok += fields["ok"]
        failed += fields["failed"] + fields["conflicts"] + fields["socket_errors"]
        seconds = max(seconds, fields["duration_us"] / 1e6)
        p99 = max(p99, fields["p99_us"] / 1000)  # the worse instance's
    per_request = 1e6 / max(1, requests)
    return {
        "ok_rps": ok / seconds,
        "failed": failed,
        "p99_ms": p99,
        "server_cpu_us": server_cpu * per_request,
        "server_cpu_share": server_cpu / seconds,
        "pg_cpu_us": None if pg_after is None else (pg_after - (pg_before or 0)) * per_request,
        "pg_cpu_share": None if pg_after is None else (pg_after - (pg_before or 0)) / seconds,
        "writes_per_commit": None if not committed else ok / committed,
    }


def run_configuration(dbs: list[str], args, pg: str) -> dict[str, dict]:
    servers: list[subprocess.Popen] = []
    try:
        ports = []
        for db in dbs:
            ports.append(free_port())
            servers.append(start_server(db, ports[-1]))
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        ids = prepare(urls[0], args.connections)
        results = {}
        for name in args.only:
            results[name] = result = run_scenario(urls, servers, name, ids[name], args, pg)
            pg_column = (
                "      n/a"
                if result["pg_cpu_us"] is None
                else f"{result['pg_cpu_us']:9.0f} {result['pg_cpu_share']:5.0%}"
            )
            print(
                f"  {WRITES[name][1]:26} {result['ok_rps']:8.0f} {result['p99_ms']:7.1f}"
                f" {result['server_cpu_us']:9.0f} {result['server_cpu_share']:5.0%}"
                f" {pg_column}"
                + (
                    f" {result['writes_per_commit']:8.1f}"
                    if result["writes_per_commit"] is not None
                    else ""
                )
                + (f"  {result['failed']} failed" if result["failed"] else ""),
                flush=True,
            )
        return results
    finally:
        for server in servers:
            server.send_signal(signal.SIGTERM)
        for server in servers:
            server.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--postgres", required=True, help="a database the bench may create a schema in"
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds per scenario")
    parser.add_argument("--connections", type=int, default=64, help="in all, split")
    parser.add_argument("--only", nargs="*", choices=list(WRITES), default=list(WRITES))
    parser.add_argument("--json", action="store_true", help="print results as JSON too")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is required: apt-get install -y wrk")
    settings = asyncio.run(
        _pg(args.postgres, "SELECT name, setting FROM pg_settings"
            " WHERE name IN ('fsync', 'synchronous_commit', 'server_version')")
    )  # fmt: skip
    print(
        f"load average {os.getloadavg()[0]:.2f}; PostgreSQL "
        + ", ".join(f"{name}={value}" for name, value in sorted(settings))
    )
    print(
        f"  {'scenario':26} {'ok/s':>8} {'p99 ms':>7} {'server CPU us/req':>15}"
        f" {'PostgreSQL CPU us/req':>15} {'writes/COMMIT':>8}"
    )
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="oi-pg-bench-") as tmp:
        print("SQLite, one instance", flush=True)
        results["sqlite"] = run_configuration([str(Path(tmp) / "bench.db")], args, "")
        for count in (1, 2):
            schema = f"bench_{uuid.uuid4().hex[:12]}"
            asyncio.run(_pg(args.postgres, f"CREATE SCHEMA {schema}"))
            try:
                url = with_settings(args.postgres, search_path=schema, application_name=APPLICATION)
                label = "one instance" if count == 1 else "two instances, one database"
                trip, flush = asyncio.run(_latencies(url, schema))
                print(
                    f"PostgreSQL, {label} (now: a round trip {trip * 1e6:.0f} us,"
                    f" a one-row COMMIT {flush * 1e3:.2f} ms)",
                    flush=True,
                )
                results[f"postgres x{count}"] = run_configuration([url] * count, args, url)
            finally:
                asyncio.run(_pg(args.postgres, f"DROP SCHEMA {schema} CASCADE"))
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
