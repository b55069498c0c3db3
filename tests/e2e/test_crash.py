"""Crash safety: `kill -9` the real server process under a concurrent write load, restart it
on the same database, and find every acknowledged write with gapless event sequences."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

API = "/api/v1"
KEY = "k"
WORKERS = 16


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """The server as a child process, exactly as an operator starts it: `python -m backend`
    (or `command`), its output going to a log file beside the database."""

    def __init__(
        self,
        db: Path,
        *,
        command: list[str] | None = None,
        extra_args: list[str] | None = None,
        env: dict[str, str] | None = None,
        log_dir: Path | None = None,
        preexec_fn=None,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = (log_dir or db.parent) / f"server-{self.port}.log"
        args = ["--db", str(db), "--port", str(self.port)]
        args += ["--api-key", KEY] if extra_args is None else extra_args
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [*(command or [sys.executable, "-m", "backend"]), *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                preexec_fn=preexec_fn,
            )
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early: {self.output()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.proc.kill()
                raise RuntimeError(f"server did not start: {self.output()}")
            time.sleep(0.05)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise


@contextmanager
def server_process(db: Path, **options) -> Iterator[ServerProcess]:
    server = ServerProcess(db, **options)
    try:
        yield server
    finally:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait()


class Ledger:
    """Every write the server acknowledged (a 2xx response reached us)."""

    def __init__(self) -> None:
        self.intents: set[str] = set()
        self.versions: dict[str, tuple[int, int]] = {}  # intent -> (version, state["n"])
        self.events: dict[str, str] = {}  # event id -> intent id

    @property
    def count(self) -> int:
        return len(self.intents) + sum(v - 1 for v, _ in self.versions.values()) + len(self.events)


async def write_load(url: str, ledger: Ledger, stop_after: int, on_threshold) -> None:
    """WORKERS writers, each mixing creates, patches of its own intent and event appends,
    until the server goes away. `on_threshold()` runs once when `stop_after` writes are in."""
    limits = httpx.Limits(max_connections=WORKERS)
    headers = {"X-API-Key": KEY, "X-Agent-ID": "loader"}
    fired = asyncio.Event()

    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=10) as c:

        async def worker(w: int) -> None:
            try:
                made = await c.post(f"{API}/intents", json={"title": f"worker {w}"})
                made.raise_for_status()
                mine = made.json()["id"]
                ledger.intents.add(mine)
                version = 1
                for n in range(100_000):  # bounded; the server dies long before
                    kind = n % 3
                    if kind == 0:
                        r = await c.post(
                            f"{API}/intents/{mine}/state",
                            json={"state": {"n": n}},
                            headers={"If-Match": str(version)},
                        )
                        r.raise_for_status()
                        version = r.json()["version"]
                        ledger.versions[mine] = (version, n)
                    elif kind == 1:
                        r = await c.post(
                            f"{API}/intents/{mine}/events",
                            json={"event_type": "comment", "payload": {"n": n}},
                        )
                        r.raise_for_status()
                        ledger.events[r.json()["id"]] = mine
                    else:
                        r = await c.post(f"{API}/intents", json={"title": f"w{w} n{n}"})
                        r.raise_for_status()
                        ledger.intents.add(r.json()["id"])
                    if ledger.count >= stop_after and not fired.is_set():
                        fired.set()
                        on_threshold()
            except (httpx.TransportError, httpx.HTTPStatusError):
                return  # the server went away mid-request: that write is not acknowledged

        await asyncio.wait_for(asyncio.gather(*(worker(w) for w in range(WORKERS))), 120)


def verify(url: str, ledger: Ledger) -> None:
    """Every acknowledged write is there; every intent's sequence and the global sequence
    have no gaps, and the global log is exactly the union of the intents' logs."""
    with httpx.Client(base_url=url, headers={"X-API-Key": KEY}, timeout=30) as c:
        stored: dict[str, dict] = {}
        offset = 0
        while offset is not None:  # pages of at most 1000
            listing = c.get(f"{API}/intents", params={"limit": 1000, "offset": offset}).json()
            stored.update((intent["id"], intent) for intent in listing["intents"])
            offset = listing["next_offset"]
        assert listing["total"] == len(stored)
        assert ledger.intents <= set(stored), "an acknowledged intent was lost"
        per_intent_ids: set[str] = set()
        for intent_id, intent in stored.items():
            log = c.get(f"{API}/intents/{intent_id}/events", params={"limit": 1000}).json()
            assert log["next_cursor"] is None
            events = log["events"]
            per_intent_ids |= {e["id"] for e in events}
            assert [e["sequence"] for e in events] == list(range(1, len(events) + 1))
            assert events[0]["event_type"] == "intent_created"
            patched = [
                e["payload"]["version"] for e in events if e["event_type"] == "state_patched"
            ]
            assert patched == list(range(2, intent["version"] + 1))
            if intent_id in ledger.versions:
                acked_version, acked_n = ledger.versions[intent_id]
                # A write in flight at the kill may have committed unacknowledged: >= not ==.
                assert intent["version"] >= acked_version
                if intent["version"] == acked_version:
                    assert intent["state"] == {"n": acked_n}
        assert set(ledger.events) <= per_intent_ids, "an acknowledged event was lost"

        global_seqs, global_ids, after = [], set(), 0
        for _ in range(1000):  # bounded paging through the whole server's log
            page = c.get(f"{API}/events", params={"after": after, "limit": 1000}).json()
            global_seqs += [e["global_sequence"] for e in page["events"]]
            global_ids |= {e["id"] for e in page["events"]}
            if page["next_cursor"] is None:
                break
            after = page["next_cursor"]
        assert global_seqs == list(range(1, len(global_seqs) + 1))
        assert global_ids == per_intent_ids


@pytest.mark.slow
def test_kill_9_under_load_loses_no_acknowledged_write(tmp_path):
    db = tmp_path / "crash.db"
    ledger = Ledger()
    with server_process(db) as first:
        asyncio.run(
            write_load(first.url, ledger, 400, lambda: os.kill(first.proc.pid, signal.SIGKILL))
        )
        assert first.proc.wait(10) == -signal.SIGKILL
    assert ledger.count >= 400
    with server_process(db) as second:
        verify(second.url, ledger)
        assert second.stop() == 0
