"""Bug 2 of issue 15: two consoles share the bundled server (a real child process); whichever
quits first, the other keeps being served, and the server goes once the last one has left.

Before the console leases, `:q` in the console that had started the server stopped it, and
the second console stayed "reconnecting" for good (the first test fails on that code at the
`live` wait after the first console's quit)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import httpx
import pytest

from backend.server_record import running_server
from openintent_tui.app import OpenIntentApp
from openintent_tui.contexts import ConnectionInfo
from openintent_tui.embedded import EmbeddedServer
from tests.tui.tui_support import wait_until

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def private_dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    for name in ("OPENINTENT_API_KEYS", "OPENINTENT_DB", "OPENINTENT_PORT", "OPENINTENT_CONFIG"):
        monkeypatch.delenv(name, raising=False)


def console(server: EmbeddedServer) -> OpenIntentApp:
    return OpenIntentApp(
        ConnectionInfo(name="local", url=server.url, api_key=server.api_key, embedded=True)
    )


def create_intent(server: EmbeddedServer, title: str) -> None:
    headers = {"X-API-Key": server.api_key, "X-Agent-ID": "t"}
    with httpx.Client(base_url=server.url, headers=headers) as http:
        assert http.post("/api/v1/intents", json={"title": title}).status_code == 201


def titles(app: OpenIntentApp) -> set[str]:
    return {intent.title for intent in app.listed_intents()}


async def server_gone(pilot, db) -> None:
    await wait_until(pilot, lambda: running_server(db, wait_for_url=0) is None, what="stopped")


async def test_first_console_quits_second_keeps_the_server(tmp_path):
    db = tmp_path / "shared.db"
    first = await asyncio.to_thread(EmbeddedServer(db).start)  # starts the server
    second = await asyncio.to_thread(EmbeddedServer(db).start)  # reuses it
    assert first.owned and second.reused
    app_b = console(second)
    async with app_b.run_test() as pilot_b:
        await wait_until(pilot_b, lambda: app_b.connection_state == "live", what="B live")
        app_a = console(first)
        async with app_a.run_test() as pilot_a:
            await wait_until(pilot_a, lambda: app_a.connection_state == "live", what="A live")
            await pilot_a.press("colon", "q", "enter")
            await wait_until(pilot_a, lambda: app_a.return_code is not None, what="A quit")
        await asyncio.to_thread(first.stop)  # what the CLI does once its console has exited
        assert first.alive() or running_server(db, wait_for_url=0) is not None
        create_intent(second, "written after A quit")
        await wait_until(pilot_b, lambda: "written after A quit" in titles(app_b), what="row")
        assert app_b.connection_state == "live"
    await asyncio.to_thread(second.stop)  # the last console: the server stops by itself
    async with console(second).run_test() as pilot:
        await server_gone(pilot, db)


async def test_second_console_quits_first_then_the_owner_stops_it_at_once(tmp_path):
    db = tmp_path / "shared.db"
    first = await asyncio.to_thread(EmbeddedServer(db).start)
    second = await asyncio.to_thread(EmbeddedServer(db).start)
    await asyncio.to_thread(second.stop)
    create_intent(first, "still served")
    await asyncio.to_thread(first.stop)
    assert not first.alive()  # stopped on the spot, not a second later
    assert running_server(db, wait_for_url=0) is None


def test_killed_owner_console_leaves_the_server_to_the_other(tmp_path):
    """The console that started the server is killed (kill -9, or its terminal closed): the
    server, in a session of its own, keeps serving the other console and stops by itself
    once that one leaves too. (Before: it kept running after every console had gone.)"""
    db = tmp_path / "shared.db"
    owner_code = (
        "import sys, time\n"
        "from openintent_tui.embedded import EmbeddedServer\n"
        "server = EmbeddedServer(sys.argv[1]).start()\n"
        "print(server.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    owner = subprocess.Popen(
        [sys.executable, "-c", owner_code, str(db)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert owner.stdout is not None
        server_pid = int(owner.stdout.readline())
        other = EmbeddedServer(db).start()
        assert other.reused and other.pid == server_pid
        owner.kill()
        owner.wait(10)
        create_intent(other, "after the owner was killed")
        other.stop()
        deadline = time.monotonic() + 15
        while running_server(db, wait_for_url=0) is not None:
            assert time.monotonic() < deadline, "the server outlived its last console"
            time.sleep(0.1)
    finally:
        owner.kill()
        owner.wait(10)
