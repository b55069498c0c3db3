"""Arbitration requests and decisions (RFC-0003 governance) over HTTP: endpoints, refusals."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from tests.support import LiveServer


@pytest.fixture
def agents(server: LiveServer) -> Iterator[dict[str, httpx.Client]]:
    clients = {name: server.client(name) for name in ("worker", "judge")}
    clients["anonymous"] = server.client(agent_id=None)
    yield clients
    for client in clients.values():
        client.close()


def new_intent(client: httpx.Client, title: str = "Choose a venue") -> str:
    return client.post("/api/v1/intents", json={"title": title}).json()["id"]


def arbitrate(client: httpx.Client, intent_id: str, **body):
    body.setdefault("reason", "Two venues fit")
    return client.post(f"/api/v1/intents/{intent_id}/arbitrate", json=body)


def decide(client: httpx.Client, intent_id: str, **body):
    body.setdefault("decision_type", "arbitration")
    body.setdefault("outcome", "Venue A")
    if "rationale" not in body:
        body.setdefault("reasoning", "Cheaper")
    return client.post(f"/api/v1/intents/{intent_id}/decisions", json=body)


def log_of(client: httpx.Client, intent_id: str) -> list[dict]:
    return client.get(f"/api/v1/intents/{intent_id}/events").json()["events"]


def assert_error(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["detail"] and body["message"]
    return body


# --- arbitration ---------------------------------------------------------------------------


def test_request_arbitration_returns_a_pending_request_and_logs_it(agents):
    worker = agents["worker"]
    intent_id = new_intent(worker)
    options = [{"label": "A", "rationale": "cheaper"}, {"label": "B", "rationale": "closer"}]
    response = arbitrate(worker, intent_id, context={"budget": 100}, options=options)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["intent_id"] == intent_id and body["requester_id"] == "worker"
    assert body["reason"] == "Two venues fit" and body["context"] == {"budget": 100}
    assert body["options"] == options
    assert body["status"] == "pending" and body["created_at"].endswith("+00:00")
    assert body["resolved_at"] is None and body["decision_id"] is None
    event = log_of(worker, intent_id)[-1]
    assert event["event_type"] == "arbitration_requested" and event["actor"] == "worker"
    assert event["payload"]["arbitration_id"] == body["id"]
    assert worker.get(f"/api/v1/arbitrations/{body['id']}").json() == body


def test_requester_defaults_to_the_agent_header(agents):
    intent_id = new_intent(agents["worker"])
    named = arbitrate(agents["anonymous"], intent_id, requested_by="planner")
    assert named.status_code == 201 and named.json()["requester_id"] == "planner"
    assert arbitrate(agents["worker"], intent_id).json()["requester_id"] == "worker"
    assert_error(arbitrate(agents["anonymous"], intent_id), 400)


@pytest.mark.parametrize(
    "body",
    [
        {"reason": ""},
        {"reason": "  "},
        {"reason": "x", "options": [{"label": ""}]},
        {"reason": "x", "options": [{"label": "A"}, {"label": "A"}]},
        {"reason": "x", "options": [{"rationale": "no label"}]},
        {"reason": "x", "context": ["not", "an", "object"]},
        {"reason": "x", "urgency": "high"},
    ],
)
def test_malformed_arbitration_requests_are_refused(agents, body):
    worker = agents["worker"]
    intent_id = new_intent(worker)
    assert_error(worker.post(f"/api/v1/intents/{intent_id}/arbitrate", json=body), 400)
    assert worker.get(f"/api/v1/intents/{intent_id}/arbitrations").json()["arbitrations"] == []
    assert [e["event_type"] for e in log_of(worker, intent_id)] == ["intent_created"]


def test_missing_reason_and_unknown_things_are_refused(agents):
    worker = agents["worker"]
    intent_id = new_intent(worker)
    assert_error(worker.post(f"/api/v1/intents/{intent_id}/arbitrate", json={}), 400)
    assert_error(arbitrate(worker, "missing"), 404)
    assert_error(worker.get("/api/v1/intents/missing/arbitrations"), 404)
    assert_error(worker.get("/api/v1/arbitrations/missing"), 404)


def test_the_queue_holds_pending_requests_oldest_first_across_intents(agents):
    worker, judge = agents["worker"], agents["judge"]
    first, second = new_intent(worker, "First"), new_intent(worker, "Second")
    a = arbitrate(worker, first, reason="a").json()
    b = arbitrate(worker, second, reason="b").json()
    c = arbitrate(worker, first, reason="c").json()

    def ids(path: str) -> list[str]:
        response = judge.get(path)
        assert response.status_code == 200, response.text
        return [x["id"] for x in response.json()["arbitrations"]]

    assert ids("/api/v1/arbitrations") == [a["id"], b["id"], c["id"]]
    assert ids("/api/v1/arbitrations?status=pending") == [a["id"], b["id"], c["id"]]
    assert decide(judge, second, arbitration_id=b["id"]).status_code == 201
    assert ids("/api/v1/arbitrations") == [a["id"], c["id"]]
    assert ids("/api/v1/arbitrations?status=resolved") == [b["id"]]
    assert ids("/api/v1/arbitrations?limit=1") == [a["id"]]
    assert ids(f"/api/v1/intents/{first}/arbitrations") == [a["id"], c["id"]]
    assert ids(f"/api/v1/intents/{second}/arbitrations") == [b["id"]]
    assert ids(f"/api/v1/intents/{second}/arbitrations?status=pending") == []
    assert_error(judge.get("/api/v1/arbitrations?status=open"), 400)
    assert_error(judge.get(f"/api/v1/intents/{first}/arbitrations?status=open"), 400)


# --- decisions -----------------------------------------------------------------------------


def test_record_a_decision_in_the_sdk_shape(agents):
    judge = agents["judge"]
    intent_id = new_intent(judge)
    response = decide(judge, intent_id, reasoning="Cheaper and free that week")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["intent_id"] == intent_id and body["decision_maker_id"] == "judge"
    assert body["decision_type"] == "arbitration" and body["outcome"] == "Venue A"
    assert body["reasoning"] == body["rationale"] == "Cheaper and free that week"
    assert body["evidence"] == [] and body["arbitration_id"] is None
    assert body["created_at"].endswith("+00:00")
    event = log_of(judge, intent_id)[-1]
    assert event["event_type"] == "decision_recorded" and event["actor"] == "judge"
    assert event["payload"]["decision_id"] == body["id"]
    listed = judge.get(f"/api/v1/intents/{intent_id}/decisions").json()
    assert listed == {"decisions": [body], "next_offset": None}


def test_the_reference_field_names_are_accepted(agents):
    intent_id = new_intent(agents["judge"])
    evidence = [{"source": "quote.pdf", "summary": "A costs 80"}]
    response = decide(
        agents["anonymous"],
        intent_id,
        rationale="Cheaper",
        decided_by="alice",
        evidence=evidence,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["decision_maker_id"] == "alice" and body["reasoning"] == "Cheaper"
    assert body["evidence"] == evidence
    both = decide(
        agents["judge"], intent_id, reasoning="same", rationale="same", decision_maker_id="bo"
    )
    assert both.status_code == 201 and both.json()["decision_maker_id"] == "bo"


@pytest.mark.parametrize(
    "body",
    [
        {"reasoning": "a", "rationale": "b"},
        {"decided_by": "a", "decision_maker_id": "b"},
        {"outcome": ""},
        {"decision_type": " "},
        {"reasoning": ""},
        {"evidence": "a string"},
        {"verdict": "yes"},
    ],
)
def test_malformed_decisions_are_refused(agents, body):
    judge = agents["judge"]
    intent_id = new_intent(judge)
    assert_error(decide(judge, intent_id, **body), 400)
    assert judge.get(f"/api/v1/intents/{intent_id}/decisions").json()["decisions"] == []


def test_required_decision_fields_and_the_decider(agents):
    judge = agents["judge"]
    intent_id = new_intent(judge)
    path = f"/api/v1/intents/{intent_id}/decisions"
    assert_error(judge.post(path, json={"outcome": "x", "reasoning": "y"}), 400)
    assert_error(judge.post(path, json={"decision_type": "x", "reasoning": "y"}), 400)
    assert_error(judge.post(path, json={"decision_type": "x", "outcome": "y"}), 400)
    assert_error(decide(agents["anonymous"], intent_id), 400)
    assert_error(decide(judge, "missing"), 404)
    assert_error(judge.get("/api/v1/intents/missing/decisions"), 404)


def test_a_decision_resolves_its_arbitration_once(agents):
    worker, judge = agents["worker"], agents["judge"]
    intent_id = new_intent(worker)
    request = arbitrate(worker, intent_id).json()
    decision = decide(judge, intent_id, arbitration_id=request["id"]).json()
    assert decision["arbitration_id"] == request["id"]
    resolved = judge.get(f"/api/v1/arbitrations/{request['id']}").json()
    assert resolved["status"] == "resolved" and resolved["decision_id"] == decision["id"]
    assert resolved["resolved_at"] == decision["created_at"]
    event = log_of(judge, intent_id)[-1]
    assert event["payload"]["arbitration_id"] == request["id"]

    again = assert_error(decide(judge, intent_id, arbitration_id=request["id"]), 409)
    assert "lease" not in str(again).lower()  # else the SDK raises LeaseConflictError
    assert decision["id"] in again["message"]
    assert [
        d["id"] for d in judge.get(f"/api/v1/intents/{intent_id}/decisions").json()["decisions"]
    ] == [decision["id"]]


def test_a_decision_must_name_an_arbitration_of_its_own_intent(agents):
    worker, judge = agents["worker"], agents["judge"]
    intent_id, elsewhere = new_intent(worker), new_intent(worker, "Elsewhere")
    request = arbitrate(worker, elsewhere).json()
    for arbitration_id in (request["id"], "missing"):
        body = assert_error(decide(judge, intent_id, arbitration_id=arbitration_id), 400)
        assert body["errors"][0]["field"] == "arbitration_id"
    assert judge.get(f"/api/v1/intents/{intent_id}/decisions").json()["decisions"] == []
    assert judge.get(f"/api/v1/arbitrations/{request['id']}").json()["status"] == "pending"
    assert [e["event_type"] for e in log_of(judge, intent_id)] == ["intent_created"]


async def test_concurrent_decisions_resolve_an_arbitration_exactly_once(server):
    async with server.async_client("worker") as worker:
        intent_id = (await worker.post("/api/v1/intents", json={"title": "Race"})).json()["id"]
        request = (
            await worker.post(f"/api/v1/intents/{intent_id}/arbitrate", json={"reason": "r"})
        ).json()
        judges = [server.async_client(f"judge-{n}") for n in range(10)]
        responses = await asyncio.gather(
            *(
                judge.post(
                    f"/api/v1/intents/{intent_id}/decisions",
                    json={
                        "decision_type": "arbitration",
                        "outcome": f"option {n}",
                        "reasoning": "mine",
                        "arbitration_id": request["id"],
                    },
                )
                for n, judge in enumerate(judges)
            )
        )
        for judge in judges:
            await judge.aclose()
        codes = sorted(r.status_code for r in responses)
        assert codes == [201] + [409] * 9
        winner = next(r.json() for r in responses if r.status_code == 201)
        decisions = (await worker.get(f"/api/v1/intents/{intent_id}/decisions")).json()
        assert [d["id"] for d in decisions["decisions"]] == [winner["id"]]
        resolved = (await worker.get(f"/api/v1/arbitrations/{request['id']}")).json()
        assert resolved["decision_id"] == winner["id"]
