"""Console benchmarks: first paint, intents list at 10k/100k rows, event tail at 1,000 events/s.

    .venv/bin/python bench/tui_bench.py            # all, prints a Markdown table
    .venv/bin/python bench/tui_bench.py --quick    # 10k rows only, 2 s of events

Headless (Textual's run_test), against the real server on loopback for first paint and the
HTTP load; the 100k-row numbers feed the intents screen's own row builder and table with
synthetic Intent Structs, since seeding 100k intents over HTTP measures the server instead.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
from textual import events

from backend.wire.events import Event
from backend.wire.intents import Intent
from openintent_tui.app import OpenIntentApp
from openintent_tui.contexts import ConnectionInfo
from openintent_tui.screens.intent_detail import IntentDetailScreen
from openintent_tui.widgets.event_tail import EventTail
from tests.support import run_server

STATUSES = ("draft", "active", "blocked", "completed", "abandoned")
SIZE = (160, 50)


def synthetic_intents(count: int) -> list[Intent]:
    now = "2030-01-01T09:00:00+00:00"
    return [
        Intent(
            id=f"00000000-0000-4000-8000-{i:012d}",
            title=f"Intent number {i} for team {i % 97}",
            description="",
            created_by="bench",
            status=STATUSES[i % len(STATUSES)],
            constraints={},
            state={},
            version=1 + i % 7,
            parent_intent_id=None,
            depends_on=[],
            created_at=now,
            updated_at=now,
            agents=[f"agent-{i % 13}"],
            last_activity_at=now,
        )
        for i in range(count)
    ]


def conn(url: str, key: str) -> ConnectionInfo:
    return ConnectionInfo(name="bench", url=url, api_key=key, operator="bench")


async def until(pilot, predicate, limit: float = 60.0) -> None:
    deadline = time.perf_counter() + limit
    while not predicate():
        if time.perf_counter() > deadline:
            raise TimeoutError
        await pilot.pause(0.005)


def import_time() -> tuple[float, float]:
    """(wall, cpu) of a fresh interpreter that imports the console."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import openintent_tui.app"], check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


async def first_paint(url: str, key: str, rows_expected: int) -> tuple[float, float]:
    """(shell painted, intents shown) in seconds from constructing the app."""
    start = time.perf_counter()
    app = OpenIntentApp(conn(url, key))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.screen.__class__.__name__ == "IntentsScreen")
        await pilot.pause(0)
        shell = time.perf_counter() - start
        await until(
            pilot, lambda: app.screen.loaded and app.screen.table.total_count >= rows_expected
        )
        await pilot.pause(0)
        loaded = time.perf_counter() - start
    return shell, loaded


async def table_ops(count: int) -> dict[str, tuple[float, float]]:
    """(wall, cpu) seconds per operation, each including one paint. CPU time is reported
    too because the wall clock on a shared 2-core machine mostly measures the neighbours."""
    intents = synthetic_intents(count)
    app = OpenIntentApp(conn("http://127.0.0.1:9", None), stream=False)  # no server needed
    results: dict[str, tuple[float, float]] = {}
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await pilot.pause(0.2)

        async def timed(name: str, operation) -> None:
            wall, cpu = time.perf_counter(), time.process_time()
            operation()
            await pilot.pause(0)  # one paint
            results[name] = (time.perf_counter() - wall, time.process_time() - cpu)

        def load() -> None:
            screen.intents = {i.id: i for i in intents}
            screen.table.set_rows(screen.row(i) for i in intents)

        await timed("load", load)
        await timed("filter", lambda: screen.table.set_filter("team 42"))
        results["filter_rows"] = (screen.table.row_count, 0.0)
        await timed("unfilter", lambda: screen.table.set_filter(""))
        await timed("sort", lambda: screen.action_sort("title"))
        await timed("status_filter", lambda: screen.apply_status("blocked"))
    return results


async def http_load(url: str, key: str, count: int) -> float:
    app = OpenIntentApp(conn(url, key), stream=False)
    async with app.run_test(size=SIZE) as pilot:
        start = time.perf_counter()
        app.screen.load_all()
        await until(pilot, lambda: app.screen.table.total_count >= count)
        return time.perf_counter() - start


def event(i: int) -> Event:
    return Event(
        id=f"ev-{i}",
        intent_id="bench-intent",
        event_type="comment" if i % 3 else "state_patched",
        actor=f"agent-{i % 7}",
        payload={"n": i, "text": "progress"},
        created_at="2030-01-01T09:00:00+00:00",
        sequence=i,
        global_sequence=i,
    )


async def tail_throughput(rate: int, seconds: float) -> dict[str, float]:
    """Feed `rate` events/s through the app's own 50 ms batching into a detail screen's tail,
    and measure how long key presses take to be handled meanwhile."""
    app = OpenIntentApp(conn("http://127.0.0.1:9", None), stream=False)
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(IntentDetailScreen("bench-intent"))
        await pilot.pause(0.3)
        tail = app.screen.query_one(EventTail)
        tail.focus()
        sent = 0
        latencies: list[float] = []
        start = time.perf_counter()
        tick = 0.01

        async def feed() -> None:
            nonlocal sent
            while (elapsed := time.perf_counter() - start) < seconds:
                due = int(elapsed * rate)
                app._pending.extend(event(i) for i in range(sent, due))  # as the stream does
                sent = due
                await asyncio.sleep(tick)

        feeder = asyncio.create_task(feed())
        # Key latency: post a key as the terminal driver would and time until its action ran
        # (`k` pauses follow, `G` resumes it). pilot.press would wait for an idle app,
        # which a busy stream never is.
        while not feeder.done():
            key, want = ("k", False) if tail.following else ("G", True)
            t0 = time.perf_counter()
            app.post_message(events.Key(key, key if len(key) == 1 else None))
            while tail.following != want:  # noqa: ASYNC110 - polling is the measurement
                await asyncio.sleep(0.001)
            latencies.append(time.perf_counter() - t0)
            await asyncio.sleep(0.1)
        await feeder
        await until(pilot, lambda: tail.rendered_total >= sent - 1, limit=30)
        drained = time.perf_counter() - start
        return {
            "sent": sent,
            "rendered": tail.rendered_total,
            "rate_rendered": tail.rendered_total / drained,
            "key_p50_ms": statistics.median(latencies) * 1000,
            "key_max_ms": max(latencies) * 1000,
            "presses": len(latencies),
        }


async def intents_live(count: int, rate: int, seconds: float) -> dict[str, float]:
    """The intents list with `count` rows, sorted by last activity (every event moves a row),
    while `rate` events/s arrive for random intents; key presses timed as above."""
    intents = synthetic_intents(count)
    app = OpenIntentApp(conn("http://127.0.0.1:9", None), stream=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await pilot.pause(0.2)
        screen.intents = {i.id: i for i in intents}
        screen.table.set_rows(screen.row(i) for i in intents)
        screen.loaded = True
        screen.action_sort("activity")
        screen.table.focus()
        await pilot.pause(0.2)
        ids = [i.id for i in intents]
        sent = 0
        start = time.perf_counter()

        async def feed() -> None:
            nonlocal sent
            while (elapsed := time.perf_counter() - start) < seconds:
                due = int(elapsed * rate)
                for n in range(sent, due):
                    ev = event(n)
                    ev.intent_id = ids[(n * 7919) % len(ids)]
                    ev.created_at = f"2030-01-01T10:{n // 60 % 60:02d}:{n % 60:02d}+00:00"
                    app._pending.append(ev)
                sent = due
                await asyncio.sleep(0.01)

        feeder = asyncio.create_task(feed())
        latencies: list[float] = []
        cpu0 = time.process_time()
        while not feeder.done():
            before = screen.table.cursor
            t0 = time.perf_counter()
            app.post_message(events.Key("j", "j"))
            while screen.table.cursor == before:  # noqa: ASYNC110 - polling is the measurement
                await asyncio.sleep(0.001)
            latencies.append(time.perf_counter() - t0)
            await asyncio.sleep(0.1)
        await feeder
        cpu = time.process_time() - cpu0
        return {
            "sent": sent,
            "key_p50_ms": statistics.median(latencies) * 1000,
            "key_max_ms": max(latencies) * 1000,
            "presses": len(latencies),
            "cpu_share": cpu / seconds,
        }


def seed_intents(url: str, key: str, count: int) -> None:
    with httpx.Client(base_url=url, headers={"X-API-Key": key, "X-Agent-ID": "bench"}) as api:
        for i in range(count):
            api.post("/api/v1/intents", json={"title": f"seeded {i}", "status": "active"})


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    sizes = (10_000,) if args.quick else (10_000, 100_000)
    seconds = 2.0 if args.quick else 5.0

    wall, cpu = import_time()
    print(f"python -c 'import openintent_tui.app' (new process): {wall:.2f} s (cpu {cpu:.2f})")
    with tempfile.TemporaryDirectory() as tmp, run_server(Path(tmp) / "bench.db") as live:
        seed_intents(live.url, live.api_key, 100)
        shell, loaded = await first_paint(live.url, live.api_key, 100)
        print(f"first paint: shell {shell:.3f} s, 100 intents shown {loaded:.3f} s")
        if not args.quick:
            seed_intents(live.url, live.api_key, 9_900)
            took = await http_load(live.url, live.api_key, 10_000)
            print(f"10k intents over HTTP into the table: {took:.3f} s")
    for count in sizes:
        r = await table_ops(count)

        def fmt(name: str, r: dict = r) -> str:
            wall, cpu = r[name]
            return f"{wall:.3f} s (cpu {cpu:.3f})"

        print(
            f"{count:>7} rows: load+paint {fmt('load')}, filter {fmt('filter')} "
            f"({r['filter_rows'][0]} rows), clear filter {fmt('unfilter')}, "
            f"sort {fmt('sort')}, status filter {fmt('status_filter')}"
        )
    for count in sizes:
        live = await intents_live(count, 1000, seconds)
        print(
            f"intents list, {count} rows sorted by activity, 1,000 events/s for {seconds:.0f} s: "
            f"key press handled p50 {live['key_p50_ms']:.1f} ms, max {live['key_max_ms']:.1f} ms "
            f"over {live['presses']} presses; process CPU {live['cpu_share']:.0%} of one core"
        )
    t = await tail_throughput(1000, seconds)
    print(
        f"event tail at 1,000/s for {seconds:.0f} s: sent {t['sent']}, rendered {t['rendered']} "
        f"({t['rate_rendered']:.0f}/s), key press handled p50 {t['key_p50_ms']:.1f} ms, "
        f"max {t['key_max_ms']:.1f} ms over {t['presses']} presses"
    )


if __name__ == "__main__":
    asyncio.run(main())
