"""Retry policies and failures (RFC-0010) against the real server."""

from __future__ import annotations

from datetime import timedelta

import pytest

from backend.domain.clock import parse_iso


def new_intent(api) -> str:
    return api.post("/api/v1/intents", json={"title": "Flaky"}).json()["id"]


def set_policy(api, intent_id: str, **body):
    return api.put(f"/api/v1/intents/{intent_id}/retry-policy", json=body)


def fail(api, intent_id: str, **body) -> dict:
    response = api.post(f"/api/v1/intents/{intent_id}/failures", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def events_of(api, intent_id: str) -> list[dict]:
    return api.get(f"/api/v1/intents/{intent_id}/events").json()["events"]


def test_set_get_and_replace_a_policy(api):
    intent_id = new_intent(api)
    url = f"/api/v1/intents/{intent_id}/retry-policy"
    assert api.get(url).status_code == 404
    assert "No retry policy" in api.get(url).json()["message"]

    created = set_policy(api, intent_id, strategy="linear", max_retries=5, fallback_agent_id="b")
    assert created.status_code == 200, created.text
    policy = created.json()
    assert (policy["strategy"], policy["max_retries"], policy["base_delay_ms"]) == (
        "linear",
        5,
        1000,
    )
    assert (policy["max_delay_ms"], policy["failure_threshold"]) == (60000, 3)
    assert policy["fallback_agent_id"] == "b"
    assert policy["createdAt"] == policy["created_at"]
    assert api.get(url).json() == policy

    replaced = set_policy(api, intent_id, strategy="fixed", base_delay_ms=10, max_delay_ms=10)
    again = replaced.json()
    assert again["id"] == policy["id"] and again["created_at"] == policy["created_at"]
    assert (again["strategy"], again["max_retries"], again["fallback_agent_id"]) == (
        "fixed",
        3,
        None,
    )
    assert again["updated_at"] >= policy["updated_at"]
    logged = [e for e in events_of(api, intent_id) if e["event_type"] == "comment"]
    assert [e["payload"]["strategy"] for e in logged] == ["linear", "fixed"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"strategy": "sometimes"}, "strategy"),
        ({"max_retries": -1}, "max_retries"),
        ({"max_retries": 101}, "max_retries"),
        ({"base_delay_ms": -1}, "base_delay_ms"),
        ({"max_delay_ms": 86_400_001}, "max_delay_ms"),
        ({"base_delay_ms": 5000, "max_delay_ms": 1000}, "max_delay_ms"),
        ({"failure_threshold": 0}, "failure_threshold"),
        ({"jitter": True}, None),
    ],
)
def test_invalid_policies_are_400_and_change_nothing(api, body, field):
    intent_id = new_intent(api)
    response = set_policy(api, intent_id, **body)
    assert response.status_code == 400, response.text
    if field:
        assert field in [e["field"] for e in response.json()["errors"]]
    assert api.get(f"/api/v1/intents/{intent_id}/retry-policy").status_code == 404


def test_failures_get_the_policy_delay_until_retries_are_exhausted(api):
    intent_id = new_intent(api)
    set_policy(api, intent_id, strategy="exponential", max_retries=2, base_delay_ms=100)
    first = fail(api, intent_id, error_code="TIMEOUT", error_message="slow", agent_id="worker")
    assert (first["attempt_number"], first["next_retry_delay_ms"]) == (1, 100)
    assert first["retries_exhausted"] is False and first["agent_id"] == "worker"
    scheduled = parse_iso(first["retry_scheduled_at"]) - parse_iso(first["created_at"])
    assert scheduled == timedelta(milliseconds=100)
    assert first["retryScheduledAt"] == first["retry_scheduled_at"]
    second = fail(api, intent_id, error_type="RATE_LIMIT", error_message="429")
    assert (second["attempt_number"], second["next_retry_delay_ms"]) == (2, 200)
    assert second["error_code"] == "RATE_LIMIT" and second["agent_id"] == "tester"
    third = fail(api, intent_id, error_code="TIMEOUT")
    assert third["attempt_number"] == 3
    assert third["next_retry_delay_ms"] is None and third["retry_scheduled_at"] is None
    assert third["retries_exhausted"] is True

    listed = api.get(f"/api/v1/intents/{intent_id}/failures").json()["failures"]
    assert [f["id"] for f in listed] == [first["id"], second["id"], third["id"]]
    recorded = [e for e in events_of(api, intent_id) if e["event_type"] == "failure_recorded"]
    assert [e["payload"]["next_retry_delay_ms"] for e in recorded] == [100, 200, None]
    assert [e["payload"]["retries_exhausted"] for e in recorded] == [False, False, True]


def test_explicit_attempts_unrecoverable_errors_and_no_policy(api):
    intent_id = new_intent(api)
    without = fail(api, intent_id, attempt_number=4, retry_scheduled_at="2026-02-15T10:05:00Z")
    assert without["next_retry_delay_ms"] is None and without["retries_exhausted"] is False
    assert without["retry_scheduled_at"] == "2026-02-15T10:05:00+00:00"
    set_policy(api, intent_id, strategy="fixed", max_retries=10, base_delay_ms=50)
    fatal = fail(api, intent_id, error_type="PERMISSION_DENIED", recoverable=False)
    assert fatal["attempt_number"] == 5 and fatal["recoverable"] is False
    assert fatal["next_retry_delay_ms"] is None and fatal["retries_exhausted"] is False


def test_the_fallback_agent_is_assigned_once_at_the_threshold(api):
    intent_id = new_intent(api)
    set_policy(
        api, intent_id, strategy="fixed", max_retries=10, failure_threshold=2, fallback_agent_id="b"
    )
    assert fail(api, intent_id)["fallback_agent_id"] is None
    assert fail(api, intent_id)["fallback_agent_id"] == "b"
    assert fail(api, intent_id)["fallback_agent_id"] is None
    agents = api.get(f"/api/v1/intents/{intent_id}/agents").json()["agents"]
    assert [(a["agent_id"], a["role"]) for a in agents] == [("b", "fallback")]
    assigned = [e for e in events_of(api, intent_id) if e["event_type"] == "agent_assigned"]
    assert len(assigned) == 1 and assigned[0]["payload"]["role"] == "fallback"


def test_strategy_none_never_retries(api):
    intent_id = new_intent(api)
    set_policy(api, intent_id, strategy="none")
    failure = fail(api, intent_id)
    assert failure["next_retry_delay_ms"] is None and failure["retries_exhausted"] is True


@pytest.mark.parametrize(
    "body",
    [
        {"attempt_number": 0},
        {"attempt_number": 10**30},
        {"retry_scheduled_at": "tomorrow"},
        {"error_code": "A", "error_type": "B"},
        {"recoverable": "maybe"},
        {"unknown": 1},
    ],
)
def test_bad_failures_are_400_and_change_nothing(api, body):
    intent_id = new_intent(api)
    response = api.post(f"/api/v1/intents/{intent_id}/failures", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["message"]
    assert api.get(f"/api/v1/intents/{intent_id}/failures").json()["failures"] == []


def test_unknown_intent_is_404(api):
    assert api.put("/api/v1/intents/nope/retry-policy", json={}).status_code == 404
    assert api.get("/api/v1/intents/nope/retry-policy").status_code == 404
    assert api.post("/api/v1/intents/nope/failures", json={}).status_code == 404
    assert api.get("/api/v1/intents/nope/failures").status_code == 404


def test_delete_a_policy(api):
    intent_id = new_intent(api)
    url = f"/api/v1/intents/{intent_id}/retry-policy"
    assert api.delete(url).status_code == 404
    set_policy(api, intent_id, strategy="fixed")
    assert api.delete(url).status_code == 204
    assert api.get(url).status_code == 404
    assert api.delete(url).status_code == 404
    assert api.delete("/api/v1/intents/nope/retry-policy").status_code == 404
    failure = fail(api, intent_id)  # without a policy again: no retry advice
    assert failure["next_retry_delay_ms"] is None
    comments = [
        e["payload"]["kind"] for e in events_of(api, intent_id) if e["event_type"] == "comment"
    ]
    assert comments == ["retry_policy_set", "retry_policy_removed"]
