"""Connections and timeouts, on both HTTP servers as real processes: a flood of idle sockets
beyond the descriptor limit does not lock out `/health`, a body shorter than its
Content-Length is answered 408 after the body timeout, and an SSE stream outlives the idle
timeout (it has a request in flight)."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import socket
import threading
import time

import httpx
import pytest

from backend.serving.http_limits import max_connections
from backend.settings import load_settings
from tests.e2e.test_crash import KEY, server_process

pytestmark = pytest.mark.slow

SERVERS = ["uvicorn", "granian"]
FD_LIMIT = 1024
FLOOD = 2000


def limit_descriptors() -> None:  # runs in the child, before exec: `ulimit -n 1024`
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))


def env_with(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENINTENT_")}
    env.update({f"OPENINTENT_{k.upper()}": v for k, v in settings.items()})
    return env


def open_descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def health_answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.parametrize("http", SERVERS)
def test_a_flood_of_idle_sockets_does_not_lock_out_health(tmp_path, http):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < FLOOD + 100:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, FLOOD + 1000), hard))
    options = {
        "extra_args": ["--api-key", KEY, "--http", http],
        "env": env_with(),  # default timeouts: far longer than this test
        "preexec_fn": limit_descriptors,
    }
    idle: list[socket.socket] = []
    try:
        with server_process(tmp_path / "oi.db", **options) as server:
            address = ("127.0.0.1", server.port)
            for _ in range(FLOOD):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setblocking(False)
                sock.connect_ex(address)  # in progress; the kernel completes it
                idle.append(sock)
            # The flood has reached the server: it holds about as many sockets as it may.
            wait_for(
                lambda: open_descriptors(server.proc.pid) > FD_LIMIT * 0.7,
                60,
                f"the server never held the flood ({open_descriptors(server.proc.pid)} fds)",
            )
            # promptly: generous for a loaded CI machine, far below any timeout (30 s)
            wait_for(lambda: health_answers(server.url), 20, "/health stopped answering")
            assert server.proc.poll() is None
            headers = {"X-API-Key": KEY, "X-Agent-ID": "t"}
            made = httpx.post(
                f"{server.url}/api/v1/intents", json={"title": "t"}, headers=headers, timeout=10
            )
            assert made.status_code == 201
            assert server.stop() == 0
            output = server.output()
            assert "Too many open files" not in output and "Traceback" not in output, output
    finally:
        for sock in idle:
            sock.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def read_until_closed(sock: socket.socket, timeout: float) -> bytes:
    sock.settimeout(timeout)
    data = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            data += chunk
    return data


@pytest.mark.parametrize("http", SERVERS)
def test_a_body_shorter_than_its_content_length_gets_408(tmp_path, http):
    options = {
        "extra_args": ["--api-key", KEY, "--http", http],
        "env": env_with(http_body_timeout_seconds="1"),
    }
    with server_process(tmp_path / "oi.db", **options) as server:
        request = (
            b"POST /api/v1/intents HTTP/1.1\r\nHost: t\r\nX-API-Key: k\r\nX-Agent-ID: t\r\n"
            b'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"title": '
        )
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            started = time.monotonic()
            sock.sendall(request)
            answer = read_until_closed(sock, 60)  # the server closes: no fixed wait here
            waited = time.monotonic() - started
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408"), answer
        error = json.loads(body)
        assert set(error) >= {"detail", "message"}
        assert waited >= 0.9
        assert server.stop() == 0


@pytest.mark.parametrize("http", SERVERS)
def test_an_sse_stream_outlives_the_idle_timeout(tmp_path, http):
    short = {
        "http_idle_timeout_seconds": "1",
        "http_header_timeout_seconds": "1",
        "http_body_timeout_seconds": "1",
        "sse_keepalive_seconds": "600",  # nothing is sent on the stream while it waits
    }
    options = {"extra_args": ["--api-key", KEY, "--http", http], "env": env_with(**short)}
    headers = {"X-API-Key": KEY, "X-Agent-ID": "t"}
    with server_process(tmp_path / "oi.db", **options) as server:
        received: list[str] = []
        opened = threading.Event()
        done = threading.Event()

        def follow() -> None:
            url = f"{server.url}/api/v1/events/stream"
            with (
                contextlib.suppress(httpx.HTTPError),
                httpx.stream("GET", url, headers=headers, timeout=120) as response,
            ):
                opened.set()
                for line in response.iter_lines():
                    received.append(line)
                    if "after the idle timeout" in line:
                        break
            done.set()

        reader = threading.Thread(target=follow, daemon=True)
        reader.start()
        assert opened.wait(30), "the stream did not open"
        # Witnesses, opened after the stream: a socket that never sends and an idle keep-alive
        # connection. Once the server has closed both, the idle timeout has passed for the
        # stream too.
        with (
            socket.create_connection(("127.0.0.1", server.port)) as silent,
            socket.create_connection(("127.0.0.1", server.port)) as kept_alive,
        ):
            kept_alive.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
            assert read_until_closed(silent, 30) == b""
            assert read_until_closed(kept_alive, 30).startswith(b"HTTP/1.1 200")
        # the stream is still there, and live
        intent = httpx.post(
            f"{server.url}/api/v1/intents",
            json={"title": "after the idle timeout"},
            headers=headers,
            timeout=10,
        )
        assert intent.status_code == 201
        assert done.wait(30), "the stream missed the event"
        assert any("after the idle timeout" in line for line in received)
        assert server.stop() == 0


@pytest.mark.parametrize("http", SERVERS)
def test_at_the_cap_idle_sockets_make_room_and_a_stream_keeps_its_place(tmp_path, http):
    settings = {"http_max_connections": "20", "sse_keepalive_seconds": "600"}
    options = {"extra_args": ["--api-key", KEY, "--http", http], "env": env_with(**settings)}
    headers = {"X-API-Key": KEY, "X-Agent-ID": "t"}
    idle: list[socket.socket] = []
    with server_process(tmp_path / "oi.db", **options) as server:
        lines: list[str] = []
        opened = threading.Event()
        got_it = threading.Event()

        def follow() -> None:
            url = f"{server.url}/api/v1/events/stream"
            with (
                contextlib.suppress(httpx.HTTPError),
                httpx.stream("GET", url, headers=headers, timeout=120) as response,
            ):
                opened.set()
                for line in response.iter_lines():
                    lines.append(line)
                    if "made at the cap" in line:
                        got_it.set()
                        break

        reader = threading.Thread(target=follow, daemon=True)
        reader.start()
        assert opened.wait(30), "the stream did not open"
        try:
            for _ in range(60):
                idle.append(socket.create_connection(("127.0.0.1", server.port), timeout=30))
            # The oldest idle socket is closed by the server to make room.
            assert read_until_closed(idle[0], 30) == b""
            wait_for(lambda: health_answers(server.url), 30, "/health did not get through")
            made = httpx.post(
                f"{server.url}/api/v1/intents",
                json={"title": "made at the cap"},
                headers=headers,
                timeout=10,
            )
            assert made.status_code == 201
            assert got_it.wait(30), f"the stream lost its place: {lines[-5:]}"
        finally:
            for sock in idle:
                sock.close()
        assert server.stop() == 0


def test_limit_settings_layer_and_are_checked(tmp_path):
    config = tmp_path / "server.toml"
    config.write_text("[server]\nhttp_idle_timeout_seconds = 5\nhttp_max_connections = 100\n")
    loaded = load_settings({}, config_file=config, environ={})
    assert (loaded.http_idle_timeout_seconds, loaded.http_max_connections) == (5, 100)
    environ = {"OPENINTENT_HTTP_BODY_TIMEOUT_SECONDS": "2.5"}
    assert load_settings({}, environ=environ).http_body_timeout_seconds == 2.5
    with pytest.raises(SystemExit, match="http_header_timeout_seconds must be 0"):
        load_settings({}, environ={"OPENINTENT_HTTP_HEADER_TIMEOUT_SECONDS": "-1"})
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert max_connections(load_settings({}, environ={})) == max(16, soft - 128)
    huge = load_settings({"http_max_connections": 10**7}, environ={})
    assert max_connections(huge) == max(16, soft - 128)  # never above the descriptor limit
