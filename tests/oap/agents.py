"""OAP-style HTTP agents on loopback ports, as any OAP user would write one: `GET /` describes
the agent, `POST /invoke` takes a TaskEnvelope and answers `{result, memory?, handoff?}`.

Each agent records every body and header it received, and may dedupe on `Idempotency-Key`
(answering a repeated key from its cache without doing the work again), as an agent that
wants exactly-once effects from an at-least-once sender does."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = Callable[[dict[str, Any]], Any]
"""envelope -> the JSON answer (or (status, raw bytes) to answer something else)."""


class Received:
    def __init__(self, headers: dict[str, str], body: dict[str, Any]) -> None:
        self.headers = headers
        self.body = body


class Agent:
    def __init__(
        self,
        agent_id: str,
        capabilities: list[str],
        answer: Answer,
        *,
        describe: bool = True,
        dedupe: bool = False,
        delay: float = 0.0,
        gate: threading.Event | None = None,
        statuses: list[int] | None = None,
    ) -> None:
        self.agent_id = agent_id
        self.capabilities = capabilities
        self.answer = answer
        self.describe = describe
        self.dedupe = dedupe
        self.delay = delay
        self.gate = gate
        """Work waits until the test sets it (a bound of a minute): a window the test holds
        open for as long as it needs, whatever the machine's load, where a delay may close."""
        self.statuses = list(statuses or [])
        """Statuses to answer first, one per request (e.g. [503] then the real answer)."""
        self.received: list[Received] = []
        self.applied: list[str] = []
        """Idempotency keys whose work was done (once each when `dedupe`)."""
        self._cache: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def handler(self) -> type[BaseHTTPRequestHandler]:
        agent = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # one request per connection: a stopped agent is gone

            def _send(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if not agent.describe:
                    self._send(404, b'{"detail":"Not Found"}')
                    return
                document = {
                    "agent_id": agent.agent_id,
                    "capabilities": agent.capabilities,
                    "description": f"{agent.agent_id} test agent",
                    "status": "ok",
                }
                self._send(200, json.dumps(document).encode())

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                body = json.loads(raw)
                key = headers.get("idempotency-key", "")
                with agent._lock:
                    agent.received.append(Received(headers, body))
                    status = agent.statuses.pop(0) if agent.statuses else None
                    cached = agent._cache.get(key) if agent.dedupe and key else None
                if status is not None:
                    self._send(status, b'{"detail":"not now"}')
                    return
                if cached is not None:
                    self._send(200, cached)
                    return
                if agent.delay:
                    time.sleep(agent.delay)
                if agent.gate is not None:
                    agent.gate.wait(60)
                answer = agent.answer(body)
                if isinstance(answer, tuple):
                    status, payload = answer
                else:
                    status, payload = 200, json.dumps(answer).encode()
                with agent._lock:
                    agent.applied.append(key)
                    if agent.dedupe and key and status == 200:
                        agent._cache[key] = payload
                self._send(status, payload)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


def handoff_to(next_agent: str, result: Any, **memory: Any) -> Answer:
    return lambda env: {
        "result": result,
        "memory": memory,
        "handoff": {"next_agent": next_agent, "reason": f"over to {next_agent}",
                    "partial_result": result},
    }  # fmt: skip


def finish(result: Any, **memory: Any) -> Answer:
    return lambda env: {"result": result, "memory": memory}


@contextmanager
def running(*agents: Agent) -> Iterator[tuple[Agent, ...]]:
    with ExitStack() as stack:
        for agent in agents:
            ThreadingHTTPServer.allow_reuse_address = True
            httpd = ThreadingHTTPServer(("127.0.0.1", 0), agent.handler())
            httpd.daemon_threads = True
            agent.port = httpd.server_address[1]
            thread = threading.Thread(target=httpd.serve_forever, daemon=True)
            thread.start()

            def stop(httpd: ThreadingHTTPServer = httpd, thread: threading.Thread = thread) -> None:
                httpd.shutdown()
                httpd.server_close()
                thread.join(5)

            stack.callback(stop)
        yield agents


def dead_url() -> str:
    """A loopback URL nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def wait_until(condition: Callable[[], Any], what: str, limit: float = 30.0) -> Any:
    """Poll until `condition()` is truthy; a bound on waiting, not a timing assertion."""
    deadline = time.monotonic() + limit
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)
