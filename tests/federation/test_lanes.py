"""The outbound worker's lanes have slots of their own: webhook deliveries that hang do not
hold back federation dispatches (they used to share one set of slots)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from tests.support import run_server

from .helpers import wait_for, write_config


@contextmanager
def silent_receiver() -> Iterator[tuple[str, list[socket.socket]]]:
    """Accepts connections and never answers: every webhook sent here occupies its slot
    until the client's timeout."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return  # closed at the end of the test
            accepted.append(connection)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/hook", accepted
    finally:
        listener.close()
        for connection in accepted:
            connection.close()


def test_hanging_webhooks_do_not_hold_back_a_dispatch(tmp_path, databases):
    with (
        silent_receiver() as (hook_url, accepted),
        run_server(
            databases("a"),
            federation_enabled=True,
            webhook_concurrency=2,
            webhook_timeout_seconds=60,
        ) as a,
    ):
        b_config = write_config(tmp_path / "b.yaml", f'federation:\n  peers: ["{a.url}"]\n')
        with (
            run_server(databases("b"), federation_enabled=True, federation_config=b_config) as b,
            a.client() as api,
        ):
            response = api.post("/api/v1/subscriptions", json={"webhook_url": hook_url})
            assert response.status_code == 201, response.text
            intents = [
                api.post("/api/v1/intents", json={"title": f"hooked {n}"}).json()["id"]
                for n in range(3)
            ]
            # Both webhook slots are taken by deliveries nobody answers (a third is queued).
            wait_for(lambda: len(accepted) >= 2)
            response = api.post(
                "/api/v1/federation/dispatch",
                json={"intent_id": intents[0], "target_server": b.url, "agent_id": "worker"},
            )
            assert response.status_code in (200, 201, 202), response.text
            dispatch_id = response.json()["dispatch_id"]

            def dispatch_status() -> str:
                return api.get(f"/api/v1/federation/dispatches/{dispatch_id}").json()["status"]

            # Sent and answered long before the hanging webhooks time out (60 s).
            wait_for(lambda: dispatch_status() in ("delivered", "accepted"), timeout=10)
            assert len(accepted) == 2  # the webhooks still hold their two slots, no more
