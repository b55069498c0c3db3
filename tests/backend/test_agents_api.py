"""Agent assignments: assign (idempotent), list, unassign, and the events they leave."""

from __future__ import annotations

from .test_intents_api import API, assert_error, create


def agents_of(api, intent_id) -> list[dict]:
    response = api.get(f"{API}/intents/{intent_id}/agents")
    assert response.status_code == 200, response.text
    return response.json()["agents"]


def log_types(api, intent_id) -> list[str]:
    log = api.get(f"{API}/intents/{intent_id}/events").json()["events"]
    return [e["event_type"] for e in log]


def test_assign_list_unassign(api):
    intent = create(api)
    response = api.post(f"{API}/intents/{intent['id']}/agents", json={"agent_id": "worker-1"})
    assert response.status_code == 201, response.text
    assignment = response.json()
    assert assignment["intent_id"] == intent["id"]
    assert assignment["agent_id"] == "worker-1"
    assert assignment["role"] == "worker"
    assert assignment["assigned_at"].endswith("+00:00")

    again = api.post(f"{API}/intents/{intent['id']}/agents", json={"agent_id": "worker-1"})
    assert again.json() == assignment  # idempotent: same assignment, no second event
    api.post(f"{API}/intents/{intent['id']}/agents", json={"agent_id": "lead", "role": "lead"})

    listed = agents_of(api, intent["id"])
    assert [(a["agent_id"], a["role"]) for a in listed] == [
        ("worker-1", "worker"),
        ("lead", "lead"),
    ]
    assert sorted(api.get(f"{API}/intents/{intent['id']}").json()["agents"]) == ["lead", "worker-1"]

    gone = api.delete(f"{API}/intents/{intent['id']}/agents/worker-1")
    assert gone.status_code == 200, gone.text
    assert "worker-1" in gone.json()["message"]
    assert [a["agent_id"] for a in agents_of(api, intent["id"])] == ["lead"]

    log = api.get(f"{API}/intents/{intent['id']}/events").json()["events"]
    assert [e["event_type"] for e in log] == [
        "intent_created",
        "agent_assigned",
        "agent_assigned",
        "agent_unassigned",
    ]
    assert log[1]["payload"] == {"agent_id": "worker-1", "role": "worker"}
    assert log[3]["payload"] == {"agent_id": "worker-1"}
    assert {e["actor"] for e in log[1:]} == {"tester"}


def test_assign_defaults_to_the_calling_agent(api):
    intent = create(api)
    response = api.post(f"{API}/intents/{intent['id']}/agents", json={})
    assert response.json()["agent_id"] == "tester"


def test_assign_without_anyone_to_assign_is_400(server):
    with server.client(agent_id=None) as anonymous:
        intent = create(anonymous)
        assert_error(anonymous.post(f"{API}/intents/{intent['id']}/agents", json={}), 400)
        assert log_types(anonymous, intent["id"]) == ["intent_created"]


def test_unassign_when_not_assigned_is_404_and_logs_nothing(api):
    intent = create(api)
    assert_error(api.delete(f"{API}/intents/{intent['id']}/agents/stranger"), 404)
    assert log_types(api, intent["id"]) == ["intent_created"]


def test_agents_on_unknown_intent_are_404(api):
    assert_error(api.post(f"{API}/intents/nope/agents", json={"agent_id": "a"}), 404)
    assert_error(api.get(f"{API}/intents/nope/agents"), 404)
    assert_error(api.delete(f"{API}/intents/nope/agents/a"), 404)


def test_bad_assign_body_is_400(api):
    intent = create(api)
    assert_error(api.post(f"{API}/intents/{intent['id']}/agents", json={"agent": "a"}), 400)
    assert agents_of(api, intent["id"]) == []
