"""Two servers on one PostgreSQL database are one logical server: an SSE client on B
receives, live and in global order, the events written through A and B at once."""

from __future__ import annotations

import asyncio
import os
import signal
import threading

import httpx
import pytest

from backend.settings import load_settings
from tests.backend.test_streams import comment, new_intent, read_events, stream
from tests.e2e.test_crash import KEY, Ledger, server_process, verify, write_load
from tests.support import run_server


def test_a_stream_on_one_instance_carries_writes_through_both(postgres_url):
    with (
        run_server(postgres_url) as a,
        run_server(postgres_url) as b,
        a.client() as on_a,
        b.client() as on_b,
    ):
        intents = [new_intent(on_a, "through A"), new_intent(on_b, "through B")]
        with stream(on_b, "/api/v1/events/stream?since=0") as response:
            assert response.status_code == 200

            def write(server, n: int) -> None:
                with server.client() as client:
                    for k in range(15):
                        comment(client, intents[(n + k) % 2], k)

            writers = [
                threading.Thread(target=write, args=(server, n))
                for n, server in enumerate((a, b, a, b))
            ]
            for thread in writers:
                thread.start()
            for thread in writers:
                thread.join(30)
            total = 2 + 4 * 15
            events = read_events(response, total)
    ids = [int(e["id"]) for e in events]
    assert ids == list(range(1, total + 1))  # every event once, in global order, no gap


def test_a_postgresql_url_selects_the_postgresql_store():
    from backend.app import open_store
    from backend.store.postgres import PostgresStore
    from backend.store.sqlite import SqliteStore

    for url in ("postgresql://u:secret@db.example:5432/oi", "postgres://u@db.example/oi"):
        settings = load_settings({"db": url}, environ={})
        assert settings.postgres_url == url
        assert isinstance(open_store(settings), PostgresStore)
        assert "secret" not in settings.db_display
    assert load_settings({}, environ={"OPENINTENT_DB": "postgres://h/oi"}).postgres_url
    assert isinstance(open_store(load_settings({"db": "x.db"}, environ={})), SqliteStore)
    federated = load_settings({"db": "postgres://h/oi", "federation_enabled": True}, environ={})
    assert federated.federation_enabled and federated.postgres_url


def test_serve_on_postgresql_as_operators_start_it(postgres_url, tmp_path):
    """`openintent-tui serve --db postgresql://...` (here `python -m backend`), twice on one
    database: no file lock refuses the second; both serve the same data."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENINTENT_")}
    env["XDG_DATA_HOME"] = str(tmp_path / "data")
    with (
        server_process(postgres_url, env=env, log_dir=tmp_path) as a,
        server_process(postgres_url, env=env, log_dir=tmp_path) as b,
    ):
        headers = {"X-API-Key": "k", "X-Agent-ID": "t"}
        made = httpx.post(f"{a.url}/api/v1/intents", json={"title": "on A"}, headers=headers)
        assert made.status_code == 201
        seen = httpx.get(f"{b.url}/api/v1/intents/{made.json()['id']}", headers=headers)
        assert seen.status_code == 200 and seen.json()["title"] == "on A"
        assert "database: postgresql://" in a.output()
        assert a.stop() == 0 and b.stop() == 0


@pytest.mark.slow
def test_kill_9_of_one_instance_under_write_load(postgres_url, tmp_path):
    """Writes go through A until it is killed mid-load; B keeps serving: every write A
    acknowledged is there with gapless sequences, and B's live stream goes on."""
    ledger = Ledger()
    with (
        server_process(postgres_url, log_dir=tmp_path) as a,
        server_process(postgres_url, log_dir=tmp_path) as b,
    ):
        asyncio.run(write_load(a.url, ledger, 300, lambda: os.kill(a.proc.pid, signal.SIGKILL)))
        assert a.proc.wait(10) == -signal.SIGKILL
        assert ledger.count >= 300
        verify(b.url, ledger)
        headers = {"X-API-Key": KEY, "X-Agent-ID": "after"}
        with httpx.Client(base_url=b.url, headers=headers, timeout=10) as on_b:
            head = on_b.get("/api/v1/events", params={"after": 0, "limit": 1}).json()
            intent = new_intent(on_b, "after the kill")
            with stream(on_b, f"/api/v1/intents/{intent}/subscribe?since=0") as response:
                comment(on_b, intent, 1)
                events = read_events(response, 2)
        assert [e["event"] for e in events] == ["intent_created", "comment"]
        assert head["events"], "B reads what A wrote"
        assert b.stop() == 0


def test_oap_answers_501_on_postgresql_and_runs_nothing(postgres_url):
    """Not on this store yet (README, PostgreSQL): every such endpoint says so and writes
    nothing."""
    with run_server(postgres_url) as server, server.client() as client:
        intent = new_intent(client, "no chains here")
        calls = [
            ("GET", "/api/v1/oap/agents", None),
            ("POST", "/api/v1/oap/agents", {"url": "http://127.0.0.1:9/", "agent_id": "a"}),
            ("GET", "/api/v1/oap/chains", None),
            ("GET", f"/api/v1/intents/{intent}/oap/chains", None),
        ]
        for method, path, body in calls:
            response = client.request(method, path, json=body)
            assert response.status_code == 501, (path, response.text)
            error = response.json()
            assert "PostgreSQL" in error["detail"] and error["message"], path
        events = client.get(f"/api/v1/intents/{intent}/events").json()
        assert [e["event_type"] for e in events["events"]] == ["intent_created"]
