"""The RFC-0001 lifecycle: the transition table (unit) and POST /status (API)."""

from __future__ import annotations

import pytest

from backend.domain.errors import InvalidInput
from backend.domain.lifecycle import STATUSES, TRANSITIONS, check_status, check_transition

from .test_intents_api import API, assert_error, create

VALID = [
    ("draft", "active"),
    ("draft", "abandoned"),
    ("active", "blocked"),
    ("active", "completed"),
    ("active", "abandoned"),
    ("active", "suspended_awaiting_input"),
    ("blocked", "active"),
    ("blocked", "abandoned"),
    ("suspended_awaiting_input", "active"),
    ("suspended_awaiting_input", "abandoned"),
]


def test_transition_table_is_exactly_rfc_0001():
    allowed = {(src, dst) for src, targets in TRANSITIONS.items() for dst in targets}
    assert allowed == set(VALID)
    assert set(TRANSITIONS) == set(STATUSES)


@pytest.mark.parametrize(("current", "target"), VALID)
def test_valid_transitions_pass(current, target):
    check_transition(current, target)


@pytest.mark.parametrize(
    ("current", "target"),
    [(src, dst) for src in STATUSES for dst in STATUSES if (src, dst) not in VALID],
)
def test_every_other_transition_is_refused(current, target):
    with pytest.raises(InvalidInput) as caught:
        check_transition(current, target)
    assert caught.value.errors[0]["field"] == "status"


def test_unknown_status_is_refused():
    with pytest.raises(InvalidInput):
        check_status("bogus")
    with pytest.raises(InvalidInput):
        check_transition("draft", "bogus")


# --- POST /intents/{id}/status --------------------------------------------------------------


def set_status(api, intent_id, status, if_match, reason=None):
    body = {"status": status} if reason is None else {"status": status, "reason": reason}
    headers = {} if if_match is None else {"If-Match": str(if_match)}
    return api.post(f"{API}/intents/{intent_id}/status", json=body, headers=headers)


def test_walk_through_the_lifecycle(api):
    intent = create(api)
    version = 1
    for status in ["active", "blocked", "active", "completed"]:
        response = set_status(api, intent["id"], status, version, reason=f"to {status}")
        assert response.status_code == 200, response.text
        version += 1
        assert response.json()["status"] == status
        assert response.json()["version"] == version
        assert response.headers["etag"] == f'"{version}"'
    log = api.get(f"{API}/intents/{intent['id']}/events").json()["events"]
    changes = [e for e in log if e["event_type"] == "status_changed"]
    assert [e["payload"]["status"] for e in changes] == ["active", "blocked", "active", "completed"]
    assert changes[0]["payload"]["old_status"] == "draft"
    assert changes[1]["payload"]["reason"] == "to blocked"
    assert [e["payload"]["version"] for e in changes] == [2, 3, 4, 5]
    assert {e["actor"] for e in changes} == {"tester"}


@pytest.mark.parametrize("target", ["completed", "blocked", "draft", "bogus", ""])
def test_invalid_or_unknown_status_is_400_with_errors(api, target):
    intent = create(api)
    body = assert_error(set_status(api, intent["id"], target, 1), 400)
    assert body["errors"] and body["errors"][0]["field"] == "status"
    after = api.get(f"{API}/intents/{intent['id']}").json()
    assert after["status"] == "draft" and after["version"] == 1
    log = api.get(f"{API}/intents/{intent['id']}/events").json()["events"]
    assert [e["event_type"] for e in log] == ["intent_created"]


def test_final_statuses_stay_final(api):
    intent = create(api, status="active")
    assert set_status(api, intent["id"], "abandoned", 1).status_code == 200
    assert_error(set_status(api, intent["id"], "active", 2), 400)


def test_status_needs_a_current_if_match(api):
    intent = create(api)
    assert_error(set_status(api, intent["id"], "active", None), 400)
    assert_error(set_status(api, intent["id"], "active", "two"), 400)
    body = assert_error(set_status(api, intent["id"], "active", 7), 409)
    assert body["current_version"] == 1
    assert "lease" not in str(body).lower()


def test_status_bad_body_and_unknown_intent(api):
    intent = create(api)
    response = api.post(
        f"{API}/intents/{intent['id']}/status", json={"state": "active"}, headers={"If-Match": "1"}
    )
    assert_error(response, 400)
    assert_error(set_status(api, "nope", "active", 1), 404)
