"""`--http granian|uvicorn`: both HTTP servers behave the same as real processes: clean
SIGTERM/SIGINT exits 0 with every acknowledged write kept, a second signal still exits
promptly, `--port 0` serves on the port it announces, open SSE streams end at shutdown, a
server that cannot open its database exits non-zero, and the setting layers like the others."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest

from backend.settings import load_settings
from tests.e2e.test_crash import KEY, Ledger, server_process, verify, write_load

pytestmark = pytest.mark.slow

SERVERS = ["uvicorn", "granian"]


def with_http(http: str) -> list[str]:
    return ["--api-key", KEY, "--http", http]


def restart_and_verify(db, http: str, ledger: Ledger) -> None:
    """Every acknowledged write is there after a restart, and that server stops cleanly."""
    with server_process(db, extra_args=with_http(http)) as second:
        verify(second.url, ledger)
        assert second.stop() == 0


@pytest.mark.parametrize("http", SERVERS)
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_under_load_exits_0_and_keeps_every_acknowledged_write(tmp_path, http, sig):
    db = tmp_path / "oi.db"
    ledger = Ledger()
    with server_process(db, extra_args=with_http(http)) as first:
        asyncio.run(write_load(first.url, ledger, 200, lambda: first.proc.send_signal(sig)))
        assert first.proc.wait(30) == 0
        output = first.output()
    assert "Traceback" not in output, output
    assert ledger.count >= 200
    wal = db.with_name(db.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0  # closed cleanly: WAL checkpointed
    restart_and_verify(db, http, ledger)


@pytest.mark.parametrize("http", SERVERS)
def test_second_signal_exits_promptly_without_losing_writes(tmp_path, http):
    db = tmp_path / "oi.db"
    ledger = Ledger()

    def interrupt_twice() -> None:
        first.proc.send_signal(signal.SIGINT)
        time.sleep(0.05)
        first.proc.send_signal(signal.SIGINT)

    with server_process(db, extra_args=with_http(http)) as first:
        asyncio.run(write_load(first.url, ledger, 200, interrupt_twice))
        assert first.proc.wait(30) in (0, 1)
    restart_and_verify(db, http, ledger)


@pytest.mark.parametrize("http", SERVERS)
def test_port_zero_and_open_streams_at_shutdown(tmp_path, http):
    log = tmp_path / "server.log"
    command = [sys.executable, "-m", "backend", "--db", str(tmp_path / "oi.db"), "--port", "0"]
    with open(log, "wb") as out:
        proc = subprocess.Popen([*command, *with_http(http)], stdout=out, stderr=out)
    try:
        match = None
        for _ in range(600):
            match = re.search(
                r"serving the OpenIntent API on (http://127\.0\.0\.1:(\d+))", log.read_text()
            )
            if match:
                break
            assert proc.poll() is None, log.read_text()
            time.sleep(0.05)
        assert match and int(match.group(2)) > 0, log.read_text()
        url = match.group(1)
        for _ in range(600):
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        headers = {"X-API-Key": KEY}
        intent = httpx.post(f"{url}/api/v1/intents", json={"title": "s"}, headers=headers)
        intent_id = intent.json()["id"]
        ended = []
        connected = threading.Semaphore(0)

        def read_stream() -> None:
            stream_url = f"{url}/api/v1/intents/{intent_id}/subscribe"
            lines = []
            try:
                with httpx.stream("GET", stream_url, headers=headers, timeout=30) as response:
                    for line in response.iter_lines():
                        if not lines:
                            connected.release()  # subscribed: what is committed now reaches it
                        lines.append(line)
            except httpx.HTTPError:
                pass
            ended.append(lines)

        readers = [threading.Thread(target=read_stream) for _ in range(2)]
        for reader in readers:
            reader.start()
        for _ in readers:
            assert connected.acquire(timeout=30), "a stream did not open"
        appended = httpx.post(
            f"{url}/api/v1/intents/{intent_id}/events",
            json={"event_type": "comment", "payload": {"n": 1}},
            headers=headers,
        )
        assert appended.status_code == 201
        time.sleep(0.5)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, log.read_text()
        assert time.monotonic() - started < 5  # streams did not hold the grace period
        for reader in readers:
            reader.join(10)
        assert len(ended) == 2
        for lines in ended:  # the committed event reached each stream before it ended
            assert any(appended.json()["id"] in line for line in lines), lines
        assert "Traceback" not in log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("http", SERVERS)
def test_a_database_that_cannot_open_exits_non_zero(tmp_path, http):
    db = tmp_path / "not-a-database.db"
    db.write_bytes(b"this is not SQLite" * 100)
    command = [sys.executable, "-m", "backend", "--db", str(db), "--port", "0"]
    done = subprocess.run([*command, *with_http(http)], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0, done.stdout + done.stderr


def test_http_setting_layers_and_is_checked(tmp_path):
    config = tmp_path / "server.toml"
    config.write_text('[server]\nhttp = "granian"\n')
    assert load_settings({}, environ={}).http == "uvicorn"
    assert load_settings({}, config_file=config, environ={}).http == "granian"
    environ = {"OPENINTENT_HTTP": "uvicorn"}
    assert load_settings({}, config_file=config, environ=environ).http == "uvicorn"
    assert load_settings({"http": "granian"}, environ=environ).http == "granian"
    with pytest.raises(SystemExit, match="invalid setting"):
        load_settings({}, environ={"OPENINTENT_HTTP": "gunicorn"})


def test_help_lists_the_http_option():
    shown = subprocess.run(
        [sys.executable, "-m", "backend", "--help"],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("OPENINTENT_")},
    )
    assert "--http {uvicorn,granian}" in shown.stdout
