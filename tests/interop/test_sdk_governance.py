"""The official SDK's arbitration and decision methods (sync and async) against our server."""

from __future__ import annotations

import pytest
from openintent import ConflictError, EventType, LeaseConflictError, NotFoundError, OpenIntentClient
from openintent.models import ArbitrationRequest, Decision

from tests.interop.test_sdk_leases import sdk_as  # noqa: F401  (the fixture)


def test_request_arbitration(sdk_as):  # noqa: F811
    worker = sdk_as("worker")
    intent = worker.create_intent("Venue", "")
    request = worker.request_arbitration(intent.id, "Two venues fit", {"budget": 100})
    assert isinstance(request, ArbitrationRequest)
    assert request.intent_id == intent.id and request.requester_id == "worker"
    assert request.reason == "Two venues fit" and request.context == {"budget": 100}
    assert request.status == "pending" and request.created_at.tzinfo is not None
    bare = worker.request_arbitration(intent.id, "No context")
    assert bare.context == {}
    with pytest.raises(NotFoundError):
        worker.request_arbitration("missing", "why")


def test_record_and_list_decisions(sdk_as):  # noqa: F811
    judge = sdk_as("judge")
    intent = judge.create_intent("Venue", "")
    first = judge.record_decision(intent.id, "arbitration", "Venue A", "Cheaper")
    assert isinstance(first, Decision)
    assert first.intent_id == intent.id and first.decision_maker_id == "judge"
    assert (first.decision_type, first.outcome, first.reasoning) == (
        "arbitration",
        "Venue A",
        "Cheaper",
    )
    assert first.created_at.tzinfo is not None
    second = judge.record_decision(intent.id, "escalation", "Ask the client", "Unclear")
    assert [d.id for d in judge.get_decisions(intent.id)] == [first.id, second.id]
    with pytest.raises(NotFoundError):
        judge.get_decisions("missing")
    log = judge.get_events(intent.id)
    assert [e.event_type for e in log] == [
        EventType.INTENT_CREATED,
        EventType.DECISION_RECORDED,
        EventType.DECISION_RECORDED,
    ]


def test_resolutions_are_visible_to_the_sdk(sdk_as, server):  # noqa: F811
    worker = sdk_as("worker")
    intent = worker.create_intent("Venue", "")
    request = worker.request_arbitration(intent.id, "Two venues fit")
    # The SDK cannot name an arbitration in a decision; the operator's console can.
    with server.client("operator") as operator:
        resolved = operator.post(
            f"/api/v1/intents/{intent.id}/decisions",
            json={
                "decision_type": "arbitration",
                "outcome": "Venue B",
                "rationale": "Closer",
                "arbitration_id": request.id,
            },
        )
        assert resolved.status_code == 201
        again = operator.post(
            f"/api/v1/intents/{intent.id}/decisions",
            json={
                "decision_type": "arbitration",
                "outcome": "Venue A",
                "rationale": "Cheaper",
                "arbitration_id": request.id,
            },
        )
    # How the SDK classifies that 409: a plain conflict, not a lease conflict.
    probe = OpenIntentClient(base_url=server.url, api_key=server.api_key, agent_id="probe")
    try:
        with pytest.raises(ConflictError) as caught:
            probe._handle_response(again)
        assert not isinstance(caught.value, LeaseConflictError)
    finally:
        probe._client.close()
    [decision] = worker.get_decisions(intent.id)
    assert decision.decision_maker_id == "operator" and decision.reasoning == "Closer"
    assert [e.event_type for e in worker.get_events(intent.id)] == [
        EventType.INTENT_CREATED,
        EventType.ARBITRATION_REQUESTED,
        EventType.DECISION_RECORDED,
    ]
