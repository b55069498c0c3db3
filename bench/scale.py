"""Scale with the fleet (issue 16): the same requests against a nearly empty database and
one of 1,000,000 intents and 5,000,000 events, in the same run.

    .venv/bin/python bench/scale.py                      # build (or reuse) the big file, measure
    .venv/bin/python bench/scale.py --console            # and the console's first rows and RSS
    .venv/bin/python bench/scale.py --intents 100000 --events 500000   # a smaller fleet

The big database is built with bulk SQL in large transactions (the schema from the real
migrations; the counts table and the search index filled by the same statements the
migration backfills with), cached under bench/.cache and reused by later runs; each run
measures a copy, so the appends do not grow the cache. Each scenario runs the real server
pinned to CPU 0 and wrk pinned to CPU 1 (bench/load.py), then a sequential latency sample
over httpx for the search. Not a test: it prints a Markdown table for bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from load import API, HEADERS, KEY, free_port, run_wrk, start_server  # noqa: E402

from backend.store.sqlite.schema import migrate  # noqa: E402

CACHE = HERE / ".cache"
STATUSES = ("draft", "active", "blocked", "completed", "abandoned")
WORDS = (
    "deploy",
    "rollback",
    "invoice",
    "ledger",
    "audit",
    "migrate",
    "cluster",
    "shard",
    "replica",
    "backup",
    "restore",
    "review",
    "approve",
    "reject",
    "escalate",
    "billing",
    "payroll",
    "onboarding",
    "churn",
    "forecast",
    "inventory",
    "shipment",
    "customs",
    "warehouse",
    "routing",
    "pricing",
    "discount",
    "refund",
    "dispute",
    "compliance",
)
SEARCH = "zephyrine"
"""A word in one intent's title in ten thousand on the big database (100 matches), in every
other one on the small (50): both answer a full page of 50."""
BATCH = 50_000


def _uid(n: int, millis: int) -> str:
    """A version-7-shaped id, time-ordered like new_uid(), deterministic for the build."""
    h = f"{millis:012x}7{n & 0xFFF:03x}8{n:015x}"[:32]
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _iso(epoch_ms: int) -> str:
    seconds, ms = divmod(epoch_ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{ms:03d}000+00:00"


def build(path: Path, intents: int, events: int) -> None:
    """A database of `intents` intents and `events` events (spread evenly), as the server
    would have written them, through the real migrations."""
    tmp = path.with_suffix(".building")
    tmp.unlink(missing_ok=True)
    conn = sqlite3.connect(tmp, isolation_level=None)
    migrate(conn)
    # The triggers would maintain counts and search row by row; drop them for the bulk
    # load, fill both in one statement each (as migration 0007 backfills), then restore.
    triggers = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'intents'"
    ).fetchall()
    for name, _ in triggers:
        conn.execute(f"DROP TRIGGER {name}")
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-400000")
    start_ms = 1_700_000_000_000
    per_intent = max(1, events // max(1, intents))
    started = time.perf_counter()
    for lo in range(0, intents, BATCH):
        conn.execute("BEGIN")
        rows = []
        event_rows = []
        for n in range(lo, min(intents, lo + BATCH)):
            ms = start_ms + n * 10
            intent_id = _uid(n, ms)
            title = f"{WORDS[n % len(WORDS)]} {WORDS[(n // 7) % len(WORDS)]} task {n}"
            if n % 10_000 == 1234:
                title += f" {SEARCH}"
            created = _iso(ms)
            rows.append(
                (
                    intent_id,
                    title,
                    f"{WORDS[(n // 3) % len(WORDS)]} for team {n % 97}",
                    f"agent-{n % 50}",
                    STATUSES[n % len(STATUSES)],
                    f'{{"step": {n % 5}}}',
                    per_intent + 1,
                    created,
                    _iso(ms + per_intent),
                )
            )
            for seq in range(1, per_intent + 1):
                event_rows.append(
                    (
                        _uid(n * per_intent + seq, ms + seq),
                        intent_id,
                        seq,
                        "intent_created" if seq == 1 else "comment",
                        f"agent-{n % 50}",
                        f'{{"n":{seq},"text":"progress note"}}',
                        _iso(ms + seq),
                    )
                )
        conn.executemany(
            "INSERT INTO intents (id, title, description, created_by, status, state, version,"
            " created_at, updated_at, last_activity_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
            [(*r, r[-1]) for r in rows],
        )
        conn.executemany(
            "INSERT INTO events (uid, intent_id, seq, event_type, actor, payload, created_at)"
            " VALUES (?,?,?,?,?,?,?)",
            event_rows,
        )
        conn.execute("COMMIT")
        done = min(intents, lo + BATCH)
        print(f"  {done:,} intents, {time.perf_counter() - started:.0f} s", flush=True)
    conn.execute("BEGIN")
    conn.execute("DELETE FROM intent_counts")
    conn.execute(
        "INSERT INTO intent_counts (status, n) SELECT status, COUNT(*) FROM intents GROUP BY status"
    )
    conn.execute("INSERT INTO intents_fts (intents_fts) VALUES ('rebuild')")
    for _, sql in triggers:
        conn.execute(sql)
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()
    tmp.rename(path)
    print(f"built {path} in {time.perf_counter() - started:.0f} s", flush=True)


def cached_database(intents: int, events: int) -> Path:
    path = CACHE / f"scale-{intents}-{events}.db"
    if not path.exists():
        CACHE.mkdir(exist_ok=True)
        build(path, intents, events)
    return path


def _seed_small(url: str) -> None:
    """The nearly empty database: 100 intents with 5 events each."""
    with httpx.Client(base_url=url, headers=HEADERS, timeout=30) as client:
        for n in range(100):
            # Half of them match the search: a full page of 50, as on the big database.
            title = f"{WORDS[n % len(WORDS)]} task {n}" + (f" {SEARCH}" if n % 2 else "")
            iid = client.post(f"{API}/intents", json={"title": title}).json()["id"]
            for _ in range(4):
                client.post(
                    f"{API}/intents/{iid}/events", json={"event_type": "comment"}
                ).raise_for_status()


def _targets(url: str) -> dict[str, list[str]]:
    """wrk arguments per scenario: ids for get/append, a path for the GETs."""
    with httpx.Client(base_url=url, headers=HEADERS, timeout=60) as client:
        first = client.get(f"{API}/intents", params={"limit": 64}).json()
        ids = [i["id"] for i in first["intents"]]
        # A deep cursor: follow cursors 2000 pages of 50 into the big list (or to the end).
        cursor, deep = None, None
        for _ in range(20):
            params: dict[str, str | int] = {"limit": 1000}
            if cursor:
                params["cursor"] = cursor
            page = client.get(f"{API}/intents", params=params).json()
            if not page["next_cursor"]:
                break
            cursor = deep = page["next_cursor"]
    return {
        "get": ids,
        "append": ids,
        "list": [f"{API}/intents?limit=50"],
        "deep": [f"{API}/intents?limit=50&cursor={deep}" if deep else f"{API}/intents?limit=50"],
        "search": [f"{API}/intents?limit=50&q={SEARCH}"],
        "counts": [f"{API}/intents/counts"],
        "events": [f"{API}/intents/{ids[-1]}/events?limit=100"],
    }


SCENARIOS = {
    "get": ("get.lua", "get intent"),
    "append": ("append.lua", "append event"),
    "list": ("path.lua", "list intents, first page of 50"),
    "deep": ("path.lua", "list intents, a page 20,000 deep by cursor"),
    "search": ("path.lua", f"search `q={SEARCH}`"),
    "counts": ("path.lua", "GET /intents/counts"),
    "events": ("path.lua", "list 100 events of one intent"),
}


def _search_latency(url: str, samples: int = 200) -> float:
    """Median ms of one search request at a time (no load)."""
    times = []
    with httpx.Client(base_url=url, headers=HEADERS, timeout=30) as client:
        for _ in range(samples):
            start = time.perf_counter()
            client.get(f"{API}/intents", params={"q": SEARCH, "limit": 50}).raise_for_status()
            times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def measure(small_db: Path, big_db: Path, duration: int, connections: int, rounds: int) -> dict:
    """Both servers up at once; each scenario runs against the small one, then the big one,
    back to back, `rounds` times: on a shared machine the two figures of a pair see the
    same load. Keeps each side's best round."""
    servers = {}
    try:
        for name, db in (("small", small_db), ("big", big_db)):
            port = free_port()
            servers[name] = (f"http://127.0.0.1:{port}", start_server(db, port))
        _seed_small(servers["small"][0])
        targets = {name: _targets(url) for name, (url, _) in servers.items()}
        results: dict[str, dict] = {"small": {}, "big": {}}
        for scenario, (script, _) in SCENARIOS.items():
            for _ in range(rounds):
                for name, (url, proc) in servers.items():
                    run = run_wrk(
                        url, script, targets[name][scenario], connections, duration, proc.pid
                    )
                    best = results[name].get(scenario)
                    if best is None or run["ok_rps"] > best["ok_rps"]:
                        results[name][scenario] = run
        for name, (url, _) in servers.items():
            results[name]["search_ms"] = _search_latency(url)
        return results
    finally:
        for _, proc in servers.values():
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)


def console_first_rows(db: Path, timeout: float) -> dict:
    """Launch the console against a server on `db` in a child process: seconds from
    constructing the app until a table shows rows, and the child's peak RSS."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_server(db, port)
    try:
        out = subprocess.run(
            [sys.executable, __file__, "--console-child", url, "--timeout", str(timeout)],
            capture_output=True,
            text=True,
            timeout=timeout + 60,
        )
        lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
        if not lines:
            return {"error": (out.stderr or out.stdout)[-500:]}
        return json.loads(lines[-1])
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)


def peak_rss_kib() -> int:
    """This process's peak RSS since it started. Not `ru_maxrss`: Linux carries that across
    fork and exec, so a child reported this harness's own peak (the million-intent build)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def _console_child(url: str, timeout: float) -> None:
    import asyncio

    from openintent_tui.app import OpenIntentApp
    from openintent_tui.contexts import ConnectionInfo

    async def run() -> dict:
        start = time.perf_counter()
        app = OpenIntentApp(ConnectionInfo(name="scale", url=url, api_key=KEY, operator="bench"))
        async with app.run_test(size=(160, 50)) as pilot:
            deadline = start + timeout
            # Any table-like widget (the console's VirtualTable, a DataTable) showing rows.
            while not any(getattr(w, "row_count", 0) for w in app.screen.query("*")):
                if time.perf_counter() > deadline:
                    return {"first_rows_s": None, "timed_out_s": timeout}
                await pilot.pause(0.01)
            first = time.perf_counter() - start
        return {"first_rows_s": first, "peak_rss_mb": peak_rss_kib() / 1024}

    print(json.dumps(asyncio.run(run())))


def _pct(big: float, small: float) -> str:
    return f"{big / small:.0%}" if small else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--intents", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--duration", type=int, default=8, help="seconds per scenario")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2, help="runs per scenario and side")
    parser.add_argument("--console", action="store_true", help="also the console's first rows")
    parser.add_argument("--build-only", action="store_true")
    parser.add_argument("--json", action="store_true", help="print the raw figures too")
    parser.add_argument("--console-child", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--timeout", type=float, default=60.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.console_child:
        _console_child(args.console_child, args.timeout)
        return
    if not shutil.which("wrk"):
        raise SystemExit("wrk is required: apt-get install -y wrk")
    cached = cached_database(args.intents, args.events)
    size_mb = cached.stat().st_size / 1e6
    if args.build_only:
        print(f"{cached}: {size_mb:,.0f} MB")
        return
    with tempfile.TemporaryDirectory(prefix="oi-scale-", dir=CACHE) as tmp:
        big = Path(tmp) / "big.db"
        shutil.copyfile(cached, big)  # appends must not grow the cache
        print(f"load average {os.getloadavg()[0]:.2f}", flush=True)
        results = measure(Path(tmp) / "small.db", big, args.duration, args.connections, args.rounds)
        small_results, big_results = results["small"], results["big"]
        console = None
        if args.console:
            console = {
                "small": console_first_rows(Path(tmp) / "small.db", 30),
                "big": console_first_rows(big, 120),
            }
        print(f"load average {os.getloadavg()[0]:.2f}", flush=True)
    print(
        f"\n{args.intents:,} intents, {args.events:,} events: {size_mb:,.0f} MB, "
        f"{size_mb / (args.events / 1e6):,.0f} MB per million events\n"
    )
    print(
        "| scenario | nearly empty req/s | big req/s | big / empty"
        " | server CPU us/req empty / big | p99 ms empty / big |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for name, (_, label) in SCENARIOS.items():
        s, b = small_results[name], big_results[name]
        print(
            f"| {label} | {s['ok_rps']:,.0f} | {b['ok_rps']:,.0f} | "
            f"{_pct(b['ok_rps'], s['ok_rps'])} | {s['cpu_us_per_request']:.0f} / "
            f"{b['cpu_us_per_request']:.0f} | {s['p99_ms']:.1f} / {b['p99_ms']:.1f} |"
        )
    print(
        f"\nsearch, one request at a time: median {small_results['search_ms']:.1f} ms empty, "
        f"{big_results['search_ms']:.1f} ms big"
    )
    if console:
        print(f"console: {json.dumps(console)}")
    if args.json:
        print(json.dumps({"small": small_results, "big": big_results, "console": console}))


if __name__ == "__main__":
    main()
