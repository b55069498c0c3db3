"""The bundled server as a real child process: start, reuse, stop, crash recovery."""

from __future__ import annotations

import os
import signal
import sys
import time

import httpx
import pytest

from backend.server_record import record_path, running_server
from backend.settings import data_dir, generated_key_path
from openintent_tui.embedded import EmbeddedError, EmbeddedServer, server_answers
from tests.e2e.test_crash import server_process

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def private_dirs(tmp_path, monkeypatch):
    """Point the platform data/config dirs at the test's own directory."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    for name in ("OPENINTENT_API_KEYS", "OPENINTENT_DB", "OPENINTENT_PORT", "OPENINTENT_CONFIG"):
        monkeypatch.delenv(name, raising=False)


def _create_intent(server: EmbeddedServer, title: str) -> int:
    headers = {"X-API-Key": server.api_key, "X-Agent-ID": "t"}
    with httpx.Client(base_url=server.url, headers=headers) as http:
        return http.post("/api/v1/intents", json={"title": title}).status_code


def test_start_reuse_and_stop(tmp_path):
    first = EmbeddedServer().start()
    try:
        assert first.owned and not first.reused and first.alive()
        assert first.url.startswith("http://127.0.0.1:")
        assert first.api_key == generated_key_path().read_text().strip()
        assert first.db == data_dir() / "openintent.db"
        assert running_server(first.db).pid == first.pid
        assert _create_intent(first, "kept") == 201

        second = EmbeddedServer().start()
        assert second.reused and not second.owned
        assert (second.url, second.pid) == (first.url, first.pid)
        second.stop()  # a reused server is not ours to stop
        assert first.alive() and _create_intent(first, "still up") == 201
    finally:
        first.stop()
    assert not first.alive()
    assert running_server(first.db) is None


def test_a_crashed_server_is_replaced(tmp_path):
    crashed = EmbeddedServer(tmp_path / "x.db").start()
    os.kill(crashed.pid, signal.SIGKILL)
    crashed.process.wait(10)
    assert record_path(crashed.db).exists()  # the record stays, its lock died with the pid
    assert running_server(crashed.db) is None
    with EmbeddedServer(tmp_path / "x.db") as fresh:
        assert fresh.owned and fresh.pid != crashed.pid
        assert _create_intent(fresh, "after crash") == 201
    crashed.stop()


def test_another_database_is_not_reused(tmp_path):
    with EmbeddedServer(tmp_path / "a.db") as a, EmbeddedServer(tmp_path / "b.db") as b:
        assert a.owned and b.owned and a.url != b.url


def test_startup_failure_reports_the_log(tmp_path):
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a SQLite database" * 100)
    with pytest.raises(EmbeddedError, match="exited") as failed:
        EmbeddedServer(garbage, reuse=False).start()
    assert "database" in str(failed.value)  # the log's tail explains it


def test_unusable_directory_is_a_clear_error(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the db's directory should be")
    with pytest.raises(EmbeddedError, match="cannot create"):
        EmbeddedServer(blocker / "db" / "x.db", reuse=False).start()


def test_watchdog_restarts_a_crashed_server_on_the_same_port(tmp_path):
    with EmbeddedServer(tmp_path / "w.db") as server:
        url, first_pid = server.url, server.pid
        assert _create_intent(server, "before the crash") == 201
        server.watch(interval=0.2)
        os.kill(first_pid, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while not (
            server.pid != first_pid and server.alive() and server_answers(url, server.api_key)
        ):
            assert time.monotonic() < deadline, "the watchdog did not restart the server"
            time.sleep(0.1)
        assert server.url == url and server.restarts == 1
        headers = {"X-API-Key": server.api_key}
        titles = [
            i["title"]
            for i in httpx.get(f"{url}/api/v1/intents", headers=headers).json()["intents"]
        ]
        assert titles == ["before the crash"]
    assert not server.alive()


def _serve_headless(tmp_path, *extra: str):
    """`openintent-tui serve` on the default database, in the test's private data dir."""
    command = [sys.executable, "-m", "backend", *extra]
    return server_process(
        data_dir() / "openintent.db", command=command, extra_args=[], log_dir=tmp_path
    )


def test_the_console_reuses_a_headless_server_on_the_same_database(tmp_path):
    with _serve_headless(tmp_path) as headless:
        with EmbeddedServer() as console:
            assert console.reused and not console.owned
            assert (console.url, console.pid) == (headless.url, headless.proc.pid)
            assert _create_intent(console, "through the headless server") == 201
        assert headless.proc.poll() is None  # not the console's to stop
        assert headless.stop() == 0


def test_a_headless_server_with_another_key_is_named_not_doubled(tmp_path):
    with _serve_headless(tmp_path, "--api-key", "someone-elses") as headless:
        with pytest.raises(EmbeddedError) as refused:
            EmbeddedServer().start()
        message = str(refused.value)
        assert headless.url in message and f"pid {headless.proc.pid}" in message
        assert headless.stop() == 0


def test_a_server_that_wins_the_race_for_the_database_is_reused(tmp_path):
    """The console looked, found nobody, and started its child; meanwhile a headless server
    took the database. The child is refused and the console adopts the winner."""
    with _serve_headless(tmp_path) as headless:
        console = EmbeddedServer()
        console.api_key = generated_key_path().read_text().strip()
        console._spawn()  # as if the look had come just before the headless server started
        try:
            assert console.reused and (console.url, console.pid) == (
                headless.url,
                headless.proc.pid,
            )
        finally:
            console.stop()
        assert headless.stop() == 0
