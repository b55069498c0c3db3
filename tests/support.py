"""Test support: run the real server on a loopback port in a background thread."""

from __future__ import annotations

import faulthandler
import gc
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import msgspec
import uvicorn
from litestar import Litestar

from backend.app import create_app
from backend.serving.uvicorn_server import Server
from backend.settings import Settings

API_KEY = "test-key-0123456789"


class LiveServer:
    def __init__(self, settings: Settings, url: str) -> None:
        self.settings = settings
        self.url = url
        self.api_key = settings.api_keys[0]

    def client(self, agent_id: str | None = "tester", **kwargs: Any) -> httpx.Client:
        headers = {"X-API-Key": self.api_key}
        if agent_id:
            headers["X-Agent-ID"] = agent_id
        return httpx.Client(base_url=self.url, headers=headers, timeout=10, **kwargs)

    def async_client(self, agent_id: str | None = "tester", **kwargs: Any) -> httpx.AsyncClient:
        headers = {"X-API-Key": self.api_key}
        if agent_id:
            headers["X-Agent-ID"] = agent_id
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=10, **kwargs)


def live_apps() -> int:
    """Litestar apps alive in this process, after a full collection."""
    gc.collect()
    return sum(isinstance(o, Litestar) for o in gc.get_objects())


def loopback_socket(port: int = 0, host: str = "127.0.0.1") -> socket.socket:
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only for that proto (40 ms stalls else).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


@contextmanager
def run_server(
    db_path: Path | str,
    port: int = 0,
    *,
    send_buffer_bytes: int | None = None,
    host: str = "127.0.0.1",
    **overrides: Any,
) -> Iterator[LiveServer]:
    """Serve a fresh app on 127.0.0.1 until the block ends; `port` lets a test restart in place.
    `db_path` is a SQLite file or a PostgreSQL URL. `host` another loopback address (the
    reference server's SSRF check refuses 127.0.0.1).

    `send_buffer_bytes` fixes the kernel send buffer of every accepted connection (Linux
    otherwise grows it to 4 MB), so a client that stops reading backs the server up quickly.
    """
    sock = loopback_socket(port, host)
    if send_buffer_bytes:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer_bytes)
    port = sock.getsockname()[1]
    settings = msgspec.structs.replace(
        Settings(),
        db=str(db_path),
        host=host,
        port=port,
        api_keys=[API_KEY],
        **{"webhook_allow_cidrs": ["127.0.0.0/8"], **overrides},  # a test may narrow it
    )
    app = create_app(settings)
    # Keep-alive as long as the real server's idle timeout: uvicorn's own 5 s default can
    # close a client's pooled connection as it sends, when the test process is starved.
    config = uvicorn.Config(
        app,
        log_level="warning",
        lifespan="on",
        timeout_keep_alive=int(settings.http_idle_timeout_seconds),
    )
    server = Server(config, app)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.01)
    try:
        yield LiveServer(settings, f"http://{host}:{port}")
    except Exception:
        # What every thread, the server's included, is doing as the test fails (a stalled
        # request shows where it stalls); pytest shows it with the failure.
        faulthandler.dump_traceback(all_threads=True)
        raise
    finally:
        server.should_exit = True  # open streams end first (backend.serving.uvicorn_server)
        thread.join(10)
        if thread.is_alive():  # a request that never ends: stop without waiting
            server.force_exit = True
            thread.join(10)
        sock.close()
