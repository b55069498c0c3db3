"""The SQLite store alone, without HTTP: how fast group commit takes patches and appends.

64 coroutines, each owning one intent, call the Store directly (durability FULL). Separates
what the store can do from what the HTTP layer costs in bench/load.py.

    .venv/bin/python bench/store_load.py [--writers 64] [--rounds 60]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from backend.store.sqlite import SqliteStore
from backend.wire.events import EventCreate
from backend.wire.intents import IntentCreate


async def run(writers: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="oi-store-bench-") as tmp:
        store = SqliteStore(Path(tmp) / "store.db")
        await store.open()
        try:
            ids = [
                (await store.create_intent(IntentCreate(title=f"w{n}"), "bench")).id
                for n in range(writers)
            ]

            async def patcher(intent_id: str) -> None:
                version = 1
                for n in range(rounds):
                    patched = await store.patch_state(intent_id, version, [("set", "n", n)], "b")
                    version = patched.version

            async def appender(intent_id: str) -> None:
                for _ in range(rounds):
                    await store.append_event(intent_id, EventCreate(event_type="comment"), "b")

            for name, writer in (("state patch", patcher), ("append event", appender)):
                wall, cpu = time.perf_counter(), time.process_time()
                await asyncio.gather(*(writer(i) for i in ids))
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                total = writers * rounds
                print(f"{name:14} {total / wall:8.0f}/s  {cpu * 1e6 / total:5.0f} us CPU per write")
        finally:
            await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=60)
    args = parser.parse_args()
    asyncio.run(run(args.writers, args.rounds))


if __name__ == "__main__":
    main()
