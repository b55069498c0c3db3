"""A real webhook receiver on a loopback port, for delivery tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Received:
    def __init__(self, path: str, headers: dict[str, str], body: bytes) -> None:
        self.path = path
        self.headers = headers
        self.body = body
        self.at = time.monotonic()


class Receiver:
    """Records every POST. `status` and `body` decide the answer; `delay` makes it a slow
    receiver (sends stay in flight that long)."""

    def __init__(self, port: int, status: int = 204, body: bytes = b"", delay: float = 0) -> None:
        self.port = port
        self.status = status
        self.body = body
        self.delay = delay
        self.requests: list[Received] = []
        self.url = f"http://127.0.0.1:{port}/hook"

    def handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver.requests.append(Received(self.path, headers, body))
                if receiver.delay:
                    time.sleep(receiver.delay)  # a slow receiver, not a wait of the test
                self.send_response(receiver.status)
                if receiver.status in (301, 302, 307, 308):
                    self.send_header("Location", receiver.url + "/elsewhere")
                self.send_header("Content-Length", str(len(receiver.body)))
                self.end_headers()
                self.wfile.write(receiver.body)

            def log_message(self, *args) -> None:
                pass

        return Handler


def free_port() -> int:
    """A loopback port nobody listens on yet (the receiver may start later)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serving(receiver: Receiver) -> Iterator[Receiver]:
    ThreadingHTTPServer.allow_reuse_address = True
    httpd = ThreadingHTTPServer(("127.0.0.1", receiver.port), receiver.handler())
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def wait_until(condition: Callable[[], object], what: str, limit: float = 30.0):
    """Poll until `condition()` is truthy; a bound on waiting, not a timing assertion."""
    deadline = time.monotonic() + limit
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)
