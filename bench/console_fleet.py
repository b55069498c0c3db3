"""The console against a large fleet (issue 16): launch to first rows, `G`, rows held.

    .venv/bin/python bench/console_fleet.py [--intents 100000]

Seeds a nearly empty and a large database through the store (concurrent batches: one commit
each), serves each on loopback, and times the console headless (Textual's run_test) from
constructing the app to the first rows shown, and `G` to the oldest intent shown. Beside it,
what reading every intent costs (`list_all_intents`, what the console did before).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend.store.sqlite import SqliteStore
from backend.wire.intents import IntentCreate
from openintent_tui.app import OpenIntentApp
from openintent_tui.client.core import OpenIntentClient
from openintent_tui.contexts import ConnectionInfo
from openintent_tui.screens.intents import IntentsScreen
from tests.support import run_server

SIZE = (160, 50)


async def seed(path: Path, count: int) -> None:
    store = SqliteStore(path)
    await store.open()
    try:
        for start in range(0, count, 1000):
            await asyncio.gather(
                *(
                    store.create_intent(IntentCreate(title=f"fleet {n}", status="active"), "b")
                    for n in range(start, min(start + 1000, count))
                )
            )
    finally:
        await store.close()


async def until(pilot, predicate, limit: float = 120.0) -> None:
    deadline = time.perf_counter() + limit
    while not predicate():
        if time.perf_counter() > deadline:
            raise TimeoutError
        await pilot.pause(0.005)


async def console(url: str, key: str) -> dict[str, float]:
    info = ConnectionInfo(name="bench", url=url, api_key=key, operator="bench")
    start = time.perf_counter()
    app = OpenIntentApp(info, stream=False)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, IntentsScreen))
        screen = app.screen
        assert isinstance(screen, IntentsScreen)
        await until(pilot, lambda: screen.table.row_count > 0)
        first_rows = time.perf_counter() - start
        await until(pilot, lambda: screen.fleet is not None)
        counts = time.perf_counter() - start
        await pilot.pause(1.0)  # a small fleet is read whole behind the first page
        held = len(screen.intents)
        t0 = time.perf_counter()
        await pilot.press("G")
        table = screen.table
        await until(pilot, lambda: table.visible_rows[table.cursor].cells[1] == "fleet 0")
        jump = time.perf_counter() - t0
    return {"first_rows": first_rows, "counts": counts, "G": jump, "held": held}


async def read_all(url: str, key: str) -> float:
    async with OpenIntentClient(url, key, timeout=120) as client:
        start = time.perf_counter()
        await client.list_all_intents()
        return time.perf_counter() - start


def run(count: int, tmp: Path) -> dict[str, float]:
    path = tmp / f"fleet-{count}.db"
    started = time.perf_counter()
    asyncio.run(seed(path, count))
    seeded = time.perf_counter() - started
    with run_server(path) as server:
        asyncio.run(console(server.url, server.api_key))  # warm: imports, first connection
        result = asyncio.run(console(server.url, server.api_key))
        result["read_all"] = asyncio.run(read_all(server.url, server.api_key))
    result["seed"] = seeded
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--intents", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="oi-fleet-") as tmp:
        rows = {n: run(n, Path(tmp)) for n in (1000, args.intents)}
    print("| intents | first rows | counts | `G` | intents held | read all (before) |")
    print("|---|---|---|---|---|---|")
    for n, r in rows.items():
        print(
            f"| {n:,} | {r['first_rows']:.2f} s | {r['counts']:.2f} s | {r['G']:.2f} s "
            f"| {r['held']:,} | {r['read_all']:.2f} s |"
        )


if __name__ == "__main__":
    main()
