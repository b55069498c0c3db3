"""`kill -9` the real server in the middle of a 5-hop chain (an agent the test holds makes
the window), restart it on the same database, resume: every hop is applied once, and the
intent's log tells the story (interrupted, resumed, the in-flight hop re-sent under its key)."""

from __future__ import annotations

import os
import signal
import threading

import httpx
import pytest

from tests.e2e.test_crash import KEY, server_process
from tests.oap.agents import Agent, finish, handoff_to, running, wait_until

NAMES = ["a1", "a2", "a3", "a4", "a5"]


def env() -> dict[str, str]:
    return {
        **os.environ,
        "OPENINTENT_EGRESS_ALLOW_CIDRS": "127.0.0.0/8",
        "OPENINTENT_OAP_RETRY_SCALE": "0.02",
    }


def client(url: str) -> httpx.Client:
    return httpx.Client(
        base_url=url, headers={"X-API-Key": KEY, "X-Agent-ID": "operator"}, timeout=30
    )


@pytest.mark.slow
def test_kill_9_mid_chain_then_resume_applies_each_hop_once(tmp_path):
    hold = threading.Event()
    agents = [
        Agent(
            name,
            [name],
            handoff_to(NAMES[i + 1], f"{name} done", **{name: i})
            if i + 1 < len(NAMES)
            else finish("all done", a5=4),
            dedupe=True,
            gate=hold if name == "a3" else None,
        )
        for i, name in enumerate(NAMES)
    ]
    slow = agents[2]
    db = tmp_path / "crash.db"
    with running(*agents):
        with server_process(db, env=env()) as first, client(first.url) as api:
            for agent in agents:
                assert api.post("/api/v1/oap/agents", json={"url": agent.url}).status_code == 201
            intent_id = api.post("/api/v1/intents", json={"title": "a1 starts"}).json()["id"]
            started = api.post(f"/api/v1/intents/{intent_id}/oap/chains", json={})
            assert started.status_code == 202
            chain_id = started.json()["chain_id"]
            wait_until(lambda: slow.received, "hop 3 in flight")
            first.proc.send_signal(signal.SIGKILL)
            first.proc.wait(10)

        with server_process(db, env=env()) as second, client(second.url) as api:
            found = api.get(f"/api/v1/oap/chains/{chain_id}").json()
            assert found["status"] == "interrupted"
            assert found["hops_done"] == 2
            assert [(h["hop"], h["status"]) for h in found["hops"]] == [
                (1, "ok"),
                (2, "ok"),
                (3, "pending"),
            ]
            listed = api.get("/api/v1/oap/chains", params={"status": "interrupted"}).json()
            assert [c["chain_id"] for c in listed["chains"]] == [chain_id]
            # The slow agent finishes the hop the dead server sent; its answer was lost.
            hold.set()
            wait_until(lambda: slow.applied, "the first hop-3 request to finish")

            resumed = api.post(f"/api/v1/oap/chains/{chain_id}/resume", json={"wait": True})
            assert resumed.status_code == 200, resumed.text
            done = resumed.json()
            events = api.get(f"/api/v1/intents/{intent_id}/events", params={"limit": 1000}).json()[
                "events"
            ]

    assert done["status"] == "completed" and done["hops_done"] == 5
    steps = done["envelope"]["steps_taken"]
    assert [s["agent_id"] for s in steps] == NAMES
    assert done["envelope"]["memory"]["last_result"] == "all done"
    assert {k: done["envelope"]["memory"][k] for k in NAMES} == {n: i for i, n in enumerate(NAMES)}
    # Hop 3 was sent twice under the same key and done once; every other hop once.
    keys = [r.headers["idempotency-key"] for r in slow.received]
    assert keys == [f"{chain_id}:3", f"{chain_id}:3"]
    assert slow.applied == [f"{chain_id}:3"]
    for agent in agents:
        if agent is not slow:
            assert len(agent.received) == 1, agent.agent_id
    assert done["hops"][2]["attempts"] == 2

    story = [(e["event_type"], e["payload"]["oap"], e["payload"].get("hop")) for e in events
             if "oap" in e["payload"]]  # fmt: skip
    completed = [hop for kind, what, hop in story if what == "hop_completed"]
    assert completed == [1, 2, 3, 4, 5]
    assert ("task.blocked", "chain_interrupted", None) in story
    assert ("task.unblocked", "chain_resumed", None) in story
    assert story[-1] == ("task.completed", "chain_completed", None)
    sequences = [e["sequence"] for e in events]
    assert sequences == list(range(1, len(events) + 1))
