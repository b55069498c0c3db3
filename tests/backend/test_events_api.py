"""The event log over HTTP: append with a validated event_type, list with filters and paging."""

from __future__ import annotations

import time

import pytest

from backend.wire.events import EVENT_TYPES

from .test_intents_api import API, assert_error, create


def append(api, intent_id, event_type="comment", **body):
    return api.post(f"{API}/intents/{intent_id}/events", json={"event_type": event_type, **body})


def events(api, intent_id, **params) -> dict:
    response = api.get(f"{API}/intents/{intent_id}/events", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_append_returns_the_stored_event(api):
    intent = create(api)
    response = append(
        api,
        intent["id"],
        "tool_call_started",
        payload={"tool": "search"},
        trace_id="trace-1",
        parent_event_id="evt-0",
    )
    assert response.status_code == 201, response.text
    event = response.json()
    assert event["intent_id"] == intent["id"]
    assert event["event_type"] == "tool_call_started"
    assert event["payload"] == {"tool": "search"}
    assert event["actor"] == "tester"
    assert event["sequence"] == 2  # intent_created is 1
    assert event["global_sequence"] >= 2
    assert event["trace_id"] == "trace-1" and event["parent_event_id"] == "evt-0"
    assert event["created_at"].endswith("+00:00")
    assert events(api, intent["id"])["events"][-1] == event


def test_actor_falls_back_to_the_body_only_without_x_agent_id(server):
    with server.client(agent_id=None) as anonymous, server.client(agent_id="header") as named:
        intent = create(named)
        assert append(anonymous, intent["id"], actor="body-actor").json()["actor"] == "body-actor"
        assert append(named, intent["id"], actor="body-actor").json()["actor"] == "header"
        assert append(anonymous, intent["id"], agent_id="agent-x").json()["actor"] == "agent-x"


def test_unknown_event_type_is_400_listing_the_allowed_ones(api):
    intent = create(api)
    body = assert_error(append(api, intent["id"], "lease_renewed"), 400)
    assert set(body["errors"][0]["allowed"]) == EVENT_TYPES
    assert [e["event_type"] for e in events(api, intent["id"])["events"]] == ["intent_created"]


@pytest.mark.parametrize(
    "body",
    [{}, {"event_type": "comment", "payload": []}, {"event_type": "comment", "color": "red"}],
    ids=["no-type", "payload-list", "unknown-field"],
)
def test_bad_event_body_is_400(api, body):
    intent = create(api)
    assert_error(api.post(f"{API}/intents/{intent['id']}/events", json=body), 400)
    assert len(events(api, intent["id"])["events"]) == 1


def test_append_and_list_for_unknown_intent_are_404(api):
    assert_error(append(api, "nope"), 404)
    assert_error(api.get(f"{API}/intents/nope/events"), 404)


def test_list_is_oldest_first_and_pages_with_a_cursor(api):
    intent = create(api)
    for i in range(7):
        assert append(api, intent["id"], payload={"i": i}).status_code == 201
    everything = events(api, intent["id"])
    assert everything["next_cursor"] is None
    assert [e["sequence"] for e in everything["events"]] == list(range(1, 9))

    seen, cursor = [], 0
    for _ in range(10):  # bounded: 8 events in pages of 3
        page = events(api, intent["id"], limit=3, cursor=cursor)
        seen += page["events"]
        if page["next_cursor"] is None:
            break
        cursor = page["next_cursor"]
    assert seen == everything["events"]
    assert len(events(api, intent["id"], limit=3)["events"]) == 3


def test_filter_by_event_type_and_since(api):
    intent = create(api)
    first = append(api, intent["id"], "comment").json()
    time.sleep(0.002)  # distinct timestamps; ordering, not timing, is asserted
    second = append(api, intent["id"], "tool_call_completed").json()
    only = events(api, intent["id"], event_type="tool_call_completed")["events"]
    assert [e["id"] for e in only] == [second["id"]]
    after = events(api, intent["id"], since=first["created_at"])["events"]
    assert [e["id"] for e in after] == [second["id"]]
    naive = first["created_at"].replace("+00:00", "")
    assert [e["id"] for e in events(api, intent["id"], since=naive)["events"]] == [second["id"]]


@pytest.mark.parametrize(
    "params",
    [
        {"event_type": "bogus"},
        {"since": "yesterday"},
        {"limit": 0},
        {"limit": 1001},
        {"cursor": -1},
    ],
)
def test_list_rejects_bad_parameters(api, params):
    intent = create(api)
    assert_error(api.get(f"{API}/intents/{intent['id']}/events", params=params), 400)


def test_mutations_emit_sdk_event_types_with_gapless_sequences(api):
    intent = create(api)
    api.post(
        f"{API}/intents/{intent['id']}/state", json={"state": {"a": 1}}, headers={"If-Match": "1"}
    )
    api.post(
        f"{API}/intents/{intent['id']}/status", json={"status": "active"}, headers={"If-Match": "2"}
    )
    api.post(f"{API}/intents/{intent['id']}/agents", json={"agent_id": "w"})
    api.delete(f"{API}/intents/{intent['id']}/agents/w")
    log = events(api, intent["id"])["events"]
    assert [e["event_type"] for e in log] == [
        "intent_created",
        "state_patched",
        "status_changed",
        "agent_assigned",
        "agent_unassigned",
    ]
    assert [e["sequence"] for e in log] == [1, 2, 3, 4, 5]
    globals_ = [e["global_sequence"] for e in log]
    assert globals_ == sorted(globals_)


def test_global_log_backfill(api):
    one, two = create(api), create(api)
    append(api, one["id"])
    page = api.get(f"{API}/events", params={"after": 0, "limit": 2}).json()
    assert [e["global_sequence"] for e in page["events"]] == [1, 2]
    assert page["next_cursor"] == 2
    rest = api.get(f"{API}/events", params={"after": 2}).json()
    assert [e["global_sequence"] for e in rest["events"]] == [3]
    assert rest["next_cursor"] is None
    assert {e["intent_id"] for e in page["events"] + rest["events"]} == {one["id"], two["id"]}
