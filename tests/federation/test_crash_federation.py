"""`kill -9` of the receiving server while the origin has dispatches in flight: after it
restarts, every dispatch has arrived exactly once (by id) and every `accepted` callback
reaches the origin once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from openintent import OpenIntentClient

from tests.support import run_server

from .helpers import free_port, wait_for, write_config

pytestmark = pytest.mark.slow
KEY = "b-key"
DISPATCHES = 30


def start_b(db: Path | str, port: int, config: str, logs: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "OPENINTENT_FEDERATION_CONFIG": config,
        "OPENINTENT_EGRESS_ALLOW_CIDRS": "127.0.0.0/8",
    }
    log = open(logs / f"b-{time.monotonic_ns()}.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "backend",
            "--federation",
            "--db",
            str(db),
            "--port",
            str(port),
            "--api-key",
            KEY,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    log.close()

    def up() -> bool:
        if proc.poll() is not None:
            raise RuntimeError("B exited early")
        try:
            return httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    wait_for(up, timeout=30)
    return proc


def test_dispatches_and_callbacks_survive_kill_9_of_the_target(tmp_path, databases):
    b_port = free_port()
    b_url = f"http://127.0.0.1:{b_port}"
    with run_server(databases("a"), federation_enabled=True, federation_max_attempts=12) as a:
        config = write_config(tmp_path / "b.yaml", f'federation:\n  peers: ["{a.url}"]\n')
        b = start_b(databases("b"), b_port, config, tmp_path)
        try:
            origin = OpenIntentClient(base_url=a.url, api_key=a.api_key, agent_id="op")
            intents = [origin.create_intent(title=f"job {n}") for n in range(DISPATCHES)]
            half = DISPATCHES // 2
            # The first half races the kill (some delivered, some in flight); the second is
            # sent while B is dead, so it is certainly pending with failed attempts.
            sent = {
                origin.federation_dispatch(i.id, b_url).dispatch_id: i.id for i in intents[:half]
            }
            b.send_signal(signal.SIGKILL)
            b.wait()
            later = {
                origin.federation_dispatch(i.id, b_url).dispatch_id: i.id for i in intents[half:]
            }
            sent.update(later)

            def record(dispatch_id: str) -> dict:
                with a.client() as api:
                    return api.get(f"/api/v1/federation/dispatches/{dispatch_id}").json()

            def status_of(dispatch_id: str) -> str:
                return record(dispatch_id)["status"]

            wait_for(lambda: all(record(d)["last_error"] for d in later))
            assert {status_of(d) for d in later} == {"pending"}
            b = start_b(databases("b"), b_port, config, tmp_path)

            wait_for(lambda: all(status_of(d) == "accepted" for d in sent), timeout=90)
            with httpx.Client(base_url=b_url, headers={"X-API-Key": KEY}) as api:
                inbound = api.get(
                    "/api/v1/federation/dispatches", params={"direction": "in", "limit": 1000}
                ).json()
                intents_at_b = api.get("/api/v1/intents", params={"limit": 1000}).json()
            assert inbound["total"] == DISPATCHES
            assert sorted(d["dispatch_id"] for d in inbound["dispatches"]) == sorted(sent)
            assert len(intents_at_b["intents"]) == DISPATCHES  # no second intent for any
            for dispatch_id, intent_id in sent.items():
                with a.client() as api:
                    events = api.get(f"/api/v1/intents/{intent_id}/events").json()["events"]
                accepted = [
                    e
                    for e in events
                    if e["event_type"] == "federation.callback"
                    and e["payload"]["idempotency_key"] == f"accept-{dispatch_id}"
                ]
                assert len(accepted) == 1, dispatch_id
        finally:
            b.kill()
            b.wait()
