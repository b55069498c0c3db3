"""Two server instances on one PostgreSQL database are one OAP router: the registry is the
same through either, a chain is run by one instance at a time, and when an instance is
killed (`kill -9`, a real process) mid-chain the survivor takes its chains over from their
checkpoints: every hop is applied once and every chain completes."""

from __future__ import annotations

import os
import signal
import threading
from collections import Counter

import httpx
import pytest

from tests.e2e.test_crash import KEY, server_process
from tests.oap.agents import Agent, finish, handoff_to, running, wait_until

NAMES = ["a1", "a2", "a3", "a4"]
CLAIM_SECONDS = 3.0
"""A dead instance's chains are taken over this long after its last renewal."""


def env() -> dict[str, str]:
    return {
        **os.environ,
        "OPENINTENT_EGRESS_ALLOW_CIDRS": "127.0.0.0/8",
        "OPENINTENT_OAP_RETRY_SCALE": "0.02",
        "OPENINTENT_POSTGRES_CLAIM_SECONDS": str(CLAIM_SECONDS),
    }


def client(url: str) -> httpx.Client:
    return httpx.Client(
        base_url=url, headers={"X-API-Key": KEY, "X-Agent-ID": "operator"}, timeout=30
    )


def keys(agent: Agent) -> Counter[str]:
    return Counter(r.headers["idempotency-key"] for r in list(agent.received))


@pytest.mark.slow
def test_kill_9_of_one_instance_mid_chain_the_survivor_completes_its_chains(postgres_url, tmp_path):
    hold = threading.Event()
    agents = [
        Agent(
            name,
            [name],
            handoff_to(NAMES[i + 1], f"{name} done", **{name: i})
            if i + 1 < len(NAMES)
            else finish("all done", a4=3),
            dedupe=True,
            # The window: A is killed while a2 holds A's hops; released then, it finishes
            # them long before the survivor re-sends (CLAIM_SECONDS later), and answers
            # the re-sends from its cache.
            gate=hold if name == "a2" else None,
        )
        for i, name in enumerate(NAMES)
    ]
    slow = agents[1]
    with (
        running(*agents),
        server_process(postgres_url, env=env(), log_dir=tmp_path) as a,
        server_process(postgres_url, env=env(), log_dir=tmp_path) as b,
        client(a.url) as on_a,
        client(b.url) as on_b,
    ):
        for agent in agents:
            assert on_a.post("/api/v1/oap/agents", json={"url": agent.url}).status_code == 201
        listed = [on.get("/api/v1/oap/agents").json()["agents"] for on in (on_a, on_b)]
        assert [x["agent_id"] for x in listed[1]] == NAMES and listed[0] == listed[1]

        chains: dict[str, str] = {}  # chain id -> the instance it was started through
        for n in range(4):
            on, name = (on_a, "A") if n % 2 == 0 else (on_b, "B")
            intent = on.post("/api/v1/intents", json={"title": f"chain {n}"}).json()["id"]
            started = on.post(f"/api/v1/intents/{intent}/oap/chains", json={"first_agent": "a1"})
            assert started.status_code == 202, started.text
            chains[started.json()["chain_id"]] = name
        on_a_ids = [c for c, name in chains.items() if name == "A"]
        wait_until(lambda: all(keys(slow)[f"{c}:2"] for c in on_a_ids), "A's hops 2 in flight")
        a.proc.send_signal(signal.SIGKILL)
        assert a.proc.wait(10) == -signal.SIGKILL
        hold.set()

        def all_completed() -> list[dict] | None:
            found = [on_b.get(f"/api/v1/oap/chains/{c}").json() for c in chains]
            return found if all(x["status"] == "completed" for x in found) else None

        done = wait_until(all_completed, "every chain completed through B", limit=60)
        events = {
            x["chain_id"]: on_b.get(
                f"/api/v1/intents/{x['intent_id']}/events", params={"limit": 1000}
            ).json()["events"]
            for x in done
        }
        assert b.stop() == 0

    for chain in done:
        chain_id = chain["chain_id"]
        assert chain["hops_done"] == 4
        assert [s["agent_id"] for s in chain["envelope"]["steps_taken"]] == NAMES
        assert chain["envelope"]["memory"]["last_result"] == "all done"
        story = [e["payload"] for e in events[chain_id] if "oap" in e["payload"]]
        completed = [p["hop"] for p in story if p["oap"] == "hop_completed"]
        assert completed == [1, 2, 3, 4], chain_id  # each hop committed once
        taken = [p for p in story if p["oap"] == "chain_taken_over"]
        if chains[chain_id] == "A":
            # A died with hop 2 in flight: B took the chain over when A's claim lapsed and
            # sent hop 2 again under the same key (the pending row may not have committed).
            assert [(p["why"], p["hops_done"]) for p in taken] == [("claim_lapsed", 1)]
            assert taken[0]["from_owner"] and taken[0]["resend_hop"] in (2, None)
            assert chain["hops"][1]["attempts"] >= 1
        else:
            assert taken == [], chain_id  # B's own chains were never taken from it
        sequences = [e["sequence"] for e in events[chain_id]]
        assert sequences == list(range(1, len(sequences) + 1))

    # Every hop was applied exactly once; only the hops A had in flight were sent twice.
    for hop, agent in enumerate(agents, start=1):
        assert Counter(agent.applied) == {f"{c}:{hop}": 1 for c in chains}, agent.agent_id
        expected = {f"{c}:{hop}": 2 if agent is slow and chains[c] == "A" else 1 for c in chains}
        assert keys(agent) == expected, agent.agent_id


def test_a_clean_shutdown_releases_its_chains_and_the_next_instance_runs_them_on(postgres_url):
    """On PostgreSQL a stopping instance does not mark its chains `interrupted`: it releases
    them, and the next instance (here a restart) takes them over at once, without waiting
    for a claim to lapse, re-sending the hop that was in flight under its key."""
    from tests.oap.conftest import RETRY_SCALE
    from tests.oap.test_chains import chain, events, new_intent, register, start
    from tests.support import run_server

    slow = Agent("slow", ["slow"], handoff_to("quick", "tick"), delay=0.5, dedupe=True)
    quick = Agent("quick", ["quick"], finish("done"))
    options = {
        "egress_allow_cidrs": ["127.0.0.0/8"],
        "oap_retry_scale": RETRY_SCALE,
        "postgres_claim_seconds": 120.0,  # far longer than the test waits: only a release helps
    }
    with running(slow, quick):
        with run_server(postgres_url, **options) as live, live.client() as api:
            register(api, slow)
            register(api, quick)
            intent_id = new_intent(api, "slow start")
            chain_id = start(api, intent_id).json()["chain_id"]
            wait_until(lambda: slow.received, "hop 1 in flight")
        wait_until(lambda: slow.applied, "the first request to finish")
        with run_server(postgres_url, **options) as live, live.client() as api:
            done = wait_until(
                lambda: (found := chain(api, chain_id))["status"] == "completed" and found,
                "the chain completed by the next instance",
                limit=20,
            )
            story = [e["payload"] for e in events(api, intent_id) if "oap" in e["payload"]]
    assert done["hops_done"] == 2
    taken = [p for p in story if p["oap"] == "chain_taken_over"]
    assert [(p["why"], p["from_owner"], p["hops_done"]) for p in taken] == [("released", None, 0)]
    assert not [p for p in story if p["oap"] == "chain_interrupted"]
    assert [r.headers["idempotency-key"] for r in slow.received] == [f"{chain_id}:1"] * 2
    assert slow.applied == [f"{chain_id}:1"]
