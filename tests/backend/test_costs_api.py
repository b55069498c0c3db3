"""Costs (RFC-0009) against the real server: records, summaries, budgets and their marks."""

from __future__ import annotations

import pytest


def new_intent(api, constraints: dict | None = None) -> str:
    body = {"title": "Spend", "constraints": constraints or {}}
    return api.post("/api/v1/intents", json=body).json()["id"]


def record(api, intent_id: str, **body) -> dict:
    response = api.post(f"/api/v1/intents/{intent_id}/costs", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def events_of(api, intent_id: str) -> list[dict]:
    return api.get(f"/api/v1/intents/{intent_id}/events").json()["events"]


def test_record_and_summarise_by_unit_type_and_agent(api):
    intent_id = new_intent(api)
    first = record(
        api,
        intent_id,
        agent_id="agent-a",
        cost_type="tokens",
        amount=1500,
        unit="tokens",
        provider="openai",
        metadata={"model": "gpt-4"},
    )
    assert first["agent_id"] == "agent-a" and first["amount"] == 1500
    assert first["metadata"] == {"model": "gpt-4"}
    assert first["recordedAt"] == first["recorded_at"] and first["recorded_at"].endswith("+00:00")
    # the async SDK sends no agent_id (X-Agent-ID is the agent); the ref calls it cost_metadata
    second = record(
        api, intent_id, cost_type="api_call", amount=2.5, unit="cents", cost_metadata={"n": 1}
    )
    assert second["agent_id"] == "tester" and second["metadata"] == {"n": 1}
    assert second["amount"] == 2.5 and second["provider"] is None
    record(api, intent_id, agent_id="agent-a", cost_type="api_call", amount=0.5, unit="cents")

    listed = api.get(f"/api/v1/intents/{intent_id}/costs").json()
    assert [c["id"] for c in listed["costs"]][:2] == [first["id"], second["id"]]
    assert listed["summary"] == {
        "total": 1503,
        "count": 3,
        "by_unit": {"tokens": 1500, "cents": 3},
        "by_type": {"tokens": 1500, "api_call": 3},
        "by_agent": {"agent-a": 1500.5, "tester": 2.5},
    }
    assert "budget" not in listed["summary"]


def test_budget_summary_and_marks_are_logged_exactly_once(api):
    intent_id = new_intent(api, {"budget": {"max_total_cents": 100, "alert_threshold_percent": 50}})
    url = f"/api/v1/intents/{intent_id}/costs"
    record(api, intent_id, cost_type="api_call", amount=40, unit="cents")
    record(api, intent_id, cost_type="tokens", amount=10_000, unit="tokens")  # other unit
    budget = api.get(url).json()["summary"]["budget"]
    assert budget == {
        "limit": 100,
        "unit": "cents",
        "spent": 40,
        "remaining": 60,
        "exceeded": False,
        "alert_threshold_percent": 50,
        "alerted": False,
    }
    assert not [e for e in events_of(api, intent_id) if e["event_type"] != "intent_created"]

    record(api, intent_id, cost_type="api_call", amount=10, unit="cents")  # 50: alert
    record(api, intent_id, cost_type="api_call", amount=10, unit="cents")  # 60: no new mark
    marks = [e for e in events_of(api, intent_id) if e["event_type"] != "intent_created"]
    assert [(e["event_type"], e["payload"]["kind"]) for e in marks] == [("comment", "budget_alert")]
    assert marks[0]["payload"]["spent"] == 50 and marks[0]["payload"]["limit"] == 100

    record(api, intent_id, cost_type="api_call", amount=40, unit="cents")  # 100: at the limit
    assert api.get(url).json()["summary"]["budget"]["exceeded"] is False
    record(api, intent_id, cost_type="api_call", amount=1, unit="cents")  # 101: exceeded
    record(api, intent_id, cost_type="api_call", amount=5, unit="cents")
    marks = [e for e in events_of(api, intent_id) if e["event_type"] != "intent_created"]
    assert [e["event_type"] for e in marks] == ["comment", "governance.violation"]
    assert marks[1]["payload"]["rule"] == "budget" and marks[1]["payload"]["spent"] == 101
    budget = api.get(url).json()["summary"]["budget"]
    assert (budget["spent"], budget["remaining"], budget["exceeded"], budget["alerted"]) == (
        106,
        0,
        True,
        True,
    )


def test_one_cost_crossing_both_marks_logs_both(api):
    intent_id = new_intent(api, {"budget": {"max_total": 1000, "unit": "tokens"}})
    record(api, intent_id, cost_type="tokens", amount=5000, unit="tokens")
    types = [e["event_type"] for e in events_of(api, intent_id)]
    assert types == ["intent_created", "comment", "governance.violation"]
    budget = api.get(f"/api/v1/intents/{intent_id}/costs").json()["summary"]["budget"]
    assert budget["alert_threshold_percent"] == 80 and budget["unit"] == "tokens"


def test_a_malformed_budget_is_ignored_not_fatal(api):
    intent_id = new_intent(api, {"budget": {"max_total_cents": "lots"}})
    record(api, intent_id, cost_type="api_call", amount=5, unit="cents")
    assert "budget" not in api.get(f"/api/v1/intents/{intent_id}/costs").json()["summary"]


@pytest.mark.parametrize(
    "body",
    [
        {"cost_type": "tokens", "amount": -1, "unit": "tokens"},
        {"cost_type": "tokens", "amount": 10**30, "unit": "tokens"},
        b'{"cost_type": "tokens", "amount": 1e400, "unit": "tokens"}',
        {"cost_type": "", "amount": 1, "unit": "tokens"},
        {"cost_type": "tokens", "amount": 1, "unit": " "},
        {"cost_type": "tokens", "amount": "lots", "unit": "tokens"},
        {"cost_type": "tokens", "unit": "tokens"},
        {"cost_type": "tokens", "amount": 1, "unit": "tokens", "extra": 1},
    ],
)
def test_bad_costs_are_400_and_change_nothing(api, body):
    intent_id = new_intent(api)
    url = f"/api/v1/intents/{intent_id}/costs"
    if isinstance(body, bytes):  # what the client cannot encode itself (an infinite float)
        response = api.post(url, content=body, headers={"Content-Type": "application/json"})
    else:
        response = api.post(url, json=body)
    assert response.status_code == 400, response.text
    assert response.json()["message"]
    assert api.get(f"/api/v1/intents/{intent_id}/costs").json()["costs"] == []


def test_unknown_intent_is_404(api):
    body = {"cost_type": "tokens", "amount": 1, "unit": "tokens"}
    assert api.post("/api/v1/intents/nope/costs", json=body).status_code == 404
    assert api.get("/api/v1/intents/nope/costs").status_code == 404
