"""Chains through real loopback OAP agents, checked against the real `oap` package (0.3.0):
every body validates as its TaskEnvelope, and OAP's own `chain()` over the same agents ends
with the same memory and steps."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import oap
import pytest
from oap.adapters.http import HTTPAdapter
from openintent import EventType, OpenIntentClient

from tests.oap.agents import Agent, dead_url, finish, handoff_to, running, wait_until
from tests.support import LiveServer

ENVELOPE_KEYS = ["id", "version", "goal", "memory", "steps_taken", "constraints", "handoff"]


def register(api: httpx.Client, agent: Agent | str, **body: Any) -> dict[str, Any]:
    url = agent if isinstance(agent, str) else agent.url
    response = api.post("/api/v1/oap/agents", json={"url": url, **body})
    assert response.status_code == 201, response.text
    return response.json()


def new_intent(api: httpx.Client, title: str, **fields: Any) -> str:
    response = api.post("/api/v1/intents", json={"title": title, "status": "active", **fields})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def start(api: httpx.Client, intent_id: str, **body: Any) -> httpx.Response:
    return api.post(f"/api/v1/intents/{intent_id}/oap/chains", json=body)


def run_chain(api: httpx.Client, intent_id: str, **body: Any) -> dict[str, Any]:
    response = start(api, intent_id, wait=True, **body)
    assert response.status_code == 200, response.text
    return response.json()


def chain(api: httpx.Client, chain_id: str) -> dict[str, Any]:
    return api.get(f"/api/v1/oap/chains/{chain_id}").json()


def events(api: httpx.Client, intent_id: str) -> list[dict[str, Any]]:
    body = api.get(f"/api/v1/intents/{intent_id}/events", params={"limit": 1000}).json()
    return body["events"]


def oap_events(api: httpx.Client, intent_id: str) -> list[tuple[str, str, Any]]:
    """(event type, payload["oap"], hop) of the chain events, oldest first."""
    return [
        (e["event_type"], e["payload"]["oap"], e["payload"].get("hop"))
        for e in events(api, intent_id)
        if "oap" in e["payload"]
    ]


def research_then_write() -> tuple[Agent, Agent]:
    researcher = Agent(
        "researcher",
        ["research", "search"],
        handoff_to("writer", {"sources": 3}, notes=["a", "b"]),
    )
    writer = Agent("writer", ["write"], finish("draft v1", draft={"words": 120}))
    return researcher, writer


def test_chain_matches_oaps_own_chain(server: LiveServer, api: httpx.Client):
    researcher, writer = research_then_write()
    with running(researcher, writer):
        register(api, researcher)
        register(api, writer)
        intent_id = new_intent(
            api,
            "Research vector databases",
            constraints={"max_cost_usd": 2, "deadline_ms": 5000},
            state={"oap_memory": {"topic": "vectors"}},
        )
        done = run_chain(api, intent_id)

        assert done["status"] == "completed"
        assert [h["agent_id"] for h in done["hops"]] == ["researcher", "writer"]
        assert [h["selected_by"] for h in done["hops"]] == ["keyword", "handoff"]
        bodies = [r.body for r in researcher.received + writer.received]
        for body in bodies:  # the full 7-key envelope, as OAP's model_dump writes it
            assert list(body) == ENVELOPE_KEYS
            assert oap.TaskEnvelope.model_validate(body).id == done["chain_id"]
        first = researcher.received[0]
        assert first.headers["idempotency-key"] == f"{done['chain_id']}:1"
        assert first.headers["x-openintent-intent-id"] == intent_id
        assert writer.received[0].headers["idempotency-key"] == f"{done['chain_id']}:2"
        assert first.body["constraints"] == {
            "max_cost_usd": 2.0,
            "allowed_tools": None,
            "deadline_ms": 5000,
        }
        # What an agent sees after hop 1: the handoff names it, with the partial result.
        assert writer.received[0].body["handoff"]["next_agent"] == "writer"
        assert writer.received[0].body["handoff"]["partial_result"] == {"sources": 3}

        # OAP's own router over the same agents, from the same first envelope.
        router = oap.OAPRouter()
        for agent in (researcher, writer):
            router.register(
                agent.agent_id, HTTPAdapter(agent.agent_id, agent.url), agent.capabilities
            )
        theirs, visited = asyncio.run(router.chain(oap.TaskEnvelope.model_validate(first.body)))
    ours = done["envelope"]
    assert visited == ["researcher", "writer"]
    assert ours["memory"] == theirs.model_dump(mode="json")["memory"]
    strip = [{k: s[k] for k in ("agent_id", "action", "result")} for s in ours["steps_taken"]]
    assert strip == [
        {"agent_id": s.agent_id, "action": s.action, "result": s.result} for s in theirs.steps_taken
    ]
    assert ours["handoff"] is None
    oap.TaskEnvelope.model_validate(ours)
    assert ours["steps_taken"][0]["timestamp"].endswith("Z")

    # The intent keeps the memory (without our reserved key) and the last result.
    state = api.get(f"/api/v1/intents/{intent_id}").json()["state"]
    assert state["oap_memory"]["draft"] == {"words": 120}
    assert state["oap_memory"]["topic"] == "vectors"
    assert "openintent" not in state["oap_memory"]
    assert state["oap_last_result"] == "draft v1"
    assert ours["memory"]["openintent"]["intent_id"] == intent_id

    assert oap_events(api, intent_id) == [
        ("task.created", "chain_started", None),
        ("task.started", "hop_started", 1),
        ("state_patched", "hop_checkpoint", 1),
        ("task.completed", "hop_completed", 1),
        ("task.delegated", "handoff", 1),
        ("task.started", "hop_started", 2),
        ("state_patched", "hop_checkpoint", 2),
        ("task.completed", "hop_completed", 2),
        ("task.completed", "chain_completed", None),
    ]
    # The official SDK reads the whole log: every type is one of its EventType values.
    sdk = OpenIntentClient(base_url=server.url, api_key=server.api_key, agent_id="sdk")
    types = {e.event_type for e in sdk.get_events(intent_id)}
    assert EventType.AGENT_ASSIGNED in types


def test_pipeline_and_forced_first_agent(api: httpx.Client):
    researcher, writer = research_then_write()
    with running(researcher, writer):
        register(api, researcher)
        register(api, writer)
        intent_id = new_intent(api, "Anything at all")
        done = run_chain(api, intent_id, pipeline=["writer", "researcher"])
        assert done["status"] == "completed"
        assert [s["action"] for s in done["envelope"]["steps_taken"]] == [
            "Pipeline hop 1/2: writer",
            "Pipeline hop 2/2: researcher",
        ]
        assert done["envelope"]["handoff"] is None  # a pipeline clears every handoff
        assert researcher.received[0].body["handoff"] is None

        forced = run_chain(api, intent_id, first_agent="writer", max_hops=3)
        assert forced["status"] == "completed"
        assert forced["hops"][0]["selected_by"] == "forced"
        assert writer.received[-1].body["handoff"] == {
            "next_agent": "writer",
            "reason": "forced",
            "partial_result": None,
        }


def test_route_scores_tie_and_no_match(api: httpx.Client):
    assert api.post("/api/v1/oap/route", json={"goal": "x"}).status_code == 422  # no agents
    with running(
        Agent("a", ["research", "web search"], finish(1)),
        Agent("b", ["write", "research"], finish(2)),
        Agent("c", ["c++"], finish(3)),
    ) as agents:
        for agent in agents:
            register(api, agent)
        picked = api.post("/api/v1/oap/route", json={"goal": "Research via web search"})
        assert picked.status_code == 200
        assert picked.json() == {
            "agent_id": "a",
            "selected_by": "keyword",
            "scores": {"a": 2, "b": 1, "c": 0},
        }
        tie = api.post("/api/v1/oap/route", json={"goal": "research-heavy work"})
        assert tie.status_code == 409
        assert "['a', 'b']" in tie.json()["message"] and tie.json()["detail"]
        # No stemming, and `c++` never matches (OAP's \b around a symbol).
        for goal in ("Researching", "learn c++"):
            none = api.post("/api/v1/oap/route", json={"goal": goal})
            assert none.status_code == 422, goal
            assert "No agent matched" in none.json()["message"]
        intent_id = new_intent(api, "research-heavy work")
        refused = start(api, intent_id)
        assert refused.status_code == 409  # the tie, before anything is written
        assert api.get("/api/v1/oap/chains", params={"intent_id": intent_id}).json()["chains"] == []


def test_retries_4xx_dead_agent(api: httpx.Client):
    flaky = Agent("flaky", ["flaky"], finish("ok"), statuses=[503])
    strict = Agent("strict", ["strict"], finish("never"), statuses=[400])
    with running(flaky, strict):
        register(api, flaky)
        register(api, strict)
        register(api, dead_url(), agent_id="ghost", capabilities=["ghost"])

        retried = run_chain(api, new_intent(api, "flaky job"))
        assert retried["status"] == "completed"
        assert retried["hops"][0]["attempts"] == 2
        assert len(flaky.received) == 2
        assert ("task.retrying", "hop_retrying", 1) in oap_events(api, retried["intent_id"])

        rejected = run_chain(api, new_intent(api, "strict job"))
        assert (rejected["status"], rejected["error_kind"]) == ("failed", "http_4xx")
        assert rejected["hops"][0]["attempts"] == 1 and len(strict.received) == 1
        assert "HTTP 400 (not retried)" in rejected["error"]

        dead = run_chain(api, new_intent(api, "ghost job"))
        assert (dead["status"], dead["error_kind"]) == ("failed", "retries_exhausted")
        assert dead["hops"][0]["attempts"] == 4
        assert "after 4 attempt(s)" in dead["error"]
        assert dead["hops_done"] == 0 and dead["envelope"]["steps_taken"] == []


def test_hop_limit_is_resumable_not_done(api: httpx.Client):
    looper = Agent("looper", ["loop"], handoff_to("looper", "again"))
    with running(looper):
        register(api, looper)
        intent_id = new_intent(api, "loop forever")
        limited = run_chain(api, intent_id, max_hops=2)
        assert limited["status"] == "hop_limit"
        assert limited["hops_done"] == 2 and limited["next_agent"] == "looper"
        assert limited["envelope"]["handoff"]["next_agent"] == "looper"  # pending, like OAP
        assert ("task.blocked", "chain_hop_limit", None) in oap_events(api, intent_id)

        resumed = api.post(
            f"/api/v1/oap/chains/{limited['chain_id']}/resume", json={"max_hops": 3, "wait": True}
        )
        assert resumed.status_code == 200, resumed.text
        again = resumed.json()
        assert again["status"] == "hop_limit" and again["hops_done"] == 5
        assert [h["hop"] for h in again["hops"]] == [1, 2, 3, 4, 5]
        assert len(looper.received) == 5


def test_bad_answers_leave_the_checkpoint_untouched(tmp_path, api: httpx.Client):
    listy = Agent("listy", ["list"], lambda env: [1, 2])
    broken = Agent("broken", ["broken"], lambda env: (200, b"not json"))
    nohandoff = Agent("mystery", ["mystery"], handoff_to("nobody", "half"))
    nobody = Agent("nobody", ["nobody"], finish("found me"))
    with running(listy, broken, nohandoff, nobody):
        for agent in (listy, broken, nohandoff):
            register(api, agent)
        for goal, kind in (("list things", "bad_response"), ("broken things", "bad_response")):
            intent_id = new_intent(api, goal)
            before = api.get(f"/api/v1/intents/{intent_id}").json()
            failed = run_chain(api, intent_id)
            assert (failed["status"], failed["error_kind"]) == ("failed", kind), failed
            assert failed["hops_done"] == 0 and failed["envelope"]["steps_taken"] == []
            after = api.get(f"/api/v1/intents/{intent_id}").json()
            assert (after["state"], after["version"]) == (before["state"], before["version"])

        # A handoff to an unregistered agent: hop 1 is kept, the chain fails resumably.
        intent_id = new_intent(api, "mystery tour")
        failed = run_chain(api, intent_id)
        assert (failed["status"], failed["error_kind"]) == ("failed", "unknown_agent")
        assert failed["error"] == "Requested agent 'nobody' is not registered."
        assert failed["hops_done"] == 1 and len(failed["hops"]) == 1
        register(api, nobody)
        resumed = api.post(
            f"/api/v1/oap/chains/{failed['chain_id']}/resume", json={"wait": True}
        ).json()
        assert resumed["status"] == "completed" and resumed["hops_done"] == 2
        assert resumed["envelope"]["memory"]["last_result"] == "found me"


def test_envelope_over_the_cap(tmp_path):
    from tests.oap.conftest import RETRY_SCALE
    from tests.support import run_server

    big = Agent("big", ["big"], lambda env: {"result": "x" * 5000})
    with (
        run_server(
            tmp_path / "cap.db",
            egress_allow_cidrs=["127.0.0.0/8"],
            oap_retry_scale=RETRY_SCALE,
            oap_max_envelope_bytes=4096,
        ) as live,
        live.client() as api,
        running(big),
    ):
        register(api, big)
        intent_id = new_intent(api, "big job", state={"oap_memory": {"blob": "y" * 5000}})
        refused = start(api, intent_id)
        assert refused.status_code == 413 and "4096" in refused.json()["message"]
        assert api.get("/api/v1/oap/chains").json()["chains"] == []
        assert big.received == []

        small = new_intent(api, "big answer")
        failed = run_chain(api, small)
        assert (failed["status"], failed["error_kind"]) == ("failed", "too_large")
        assert failed["hops_done"] == 0
        assert "oap_memory" not in api.get(f"/api/v1/intents/{small}").json()["state"]


def test_cancel_and_one_chain_per_intent(api: httpx.Client):
    slow = Agent("slow", ["slow"], handoff_to("slow", "tick"), delay=0.3)
    with running(slow):
        register(api, slow)
        intent_id = new_intent(api, "slow work")
        started = start(api, intent_id, max_hops=50)
        assert started.status_code == 202
        chain_id = started.json()["chain_id"]
        second = start(api, intent_id)
        assert second.status_code == 409 and chain_id in second.json()["message"]
        wait_until(lambda: slow.received, "the first hop")
        cancelled = api.post(f"/api/v1/oap/chains/{chain_id}/cancel", json={})
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        assert api.post(f"/api/v1/oap/chains/{chain_id}/resume", json={}).status_code == 409
        assert api.post(f"/api/v1/oap/chains/{chain_id}/cancel", json={}).status_code == 409
        listed = api.get("/api/v1/oap/chains", params={"status": "cancelled"}).json()["chains"]
        assert [c["chain_id"] for c in listed] == [chain_id]
        assert start(api, intent_id, max_hops=1, wait=True).json()["status"] == "hop_limit"


@pytest.mark.parametrize(
    "body",
    [
        {"max_hops": 0},
        {"max_hops": "3"},
        {"pipeline": []},
        {"unknown": 1},
        {"pipeline": ["a"], "first_agent": "a"},
    ],
)
def test_bad_chain_requests(api: httpx.Client, body: dict[str, Any]):
    intent_id = new_intent(api, "input checks")
    register(api, dead_url(), agent_id="a", capabilities=["a"])
    response = start(api, intent_id, **body)
    assert response.status_code == 400, response.text
    assert response.json()["detail"] and response.json()["message"]
    assert api.get("/api/v1/oap/chains").json()["chains"] == []


def test_a_clean_shutdown_leaves_the_chain_interrupted_and_resumable(tmp_path):
    from tests.oap.conftest import RETRY_SCALE
    from tests.support import run_server

    slow = Agent("slow", ["slow"], handoff_to("quick", "tick"), delay=0.5, dedupe=True)
    quick = Agent("quick", ["quick"], finish("done"))
    options = {"egress_allow_cidrs": ["127.0.0.0/8"], "oap_retry_scale": RETRY_SCALE}
    with running(slow, quick):
        with run_server(tmp_path / "stop.db", **options) as live, live.client() as api:
            register(api, slow)
            register(api, quick)
            chain_id = start(api, new_intent(api, "slow start")).json()["chain_id"]
            wait_until(lambda: slow.received, "hop 1 in flight")
        with run_server(tmp_path / "stop.db", **options) as live, live.client() as api:
            stopped = chain(api, chain_id)
            assert stopped["status"] == "interrupted"
            assert [(h["hop"], h["status"]) for h in stopped["hops"]] == [(1, "pending")]
            wait_until(lambda: slow.applied, "the first request to finish")
            done = api.post(f"/api/v1/oap/chains/{chain_id}/resume", json={"wait": True}).json()
    assert done["status"] == "completed" and done["hops_done"] == 2
    assert [r.headers["idempotency-key"] for r in slow.received] == [f"{chain_id}:1"] * 2
    assert slow.applied == [f"{chain_id}:1"]
