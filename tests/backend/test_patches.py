"""State patches: the JSON Pointer rules (unit) and POST /state with If-Match (API)."""

from __future__ import annotations

import pytest

from backend.domain.errors import InvalidInput
from backend.domain.patches import apply_patches, parse_pointer, scope_of

from .test_intents_api import API, assert_error, create

# --- domain/patches.py --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "tokens"),
    [
        ("", []),
        ("/", [""]),
        ("/a", ["a"]),
        ("/a/b", ["a", "b"]),
        ("/a~1b", ["a/b"]),
        ("/m~0n", ["m~n"]),
        ("/~01", ["~1"]),  # ~0 is decoded after ~1, so this is "~1", not "/"
        ("progress", ["progress"]),
        ("a/b", ["a/b"]),  # a bare key is one top-level key, as the SDK means it
    ],
)
def test_parse_pointer(path, tokens):
    assert parse_pointer(path) == tokens


@pytest.mark.parametrize("path", ["/a~2", "/a~", "/~x/b"])
def test_parse_pointer_rejects_bad_escapes(path):
    with pytest.raises(InvalidInput):
        parse_pointer(path)


def test_scope_of_is_the_first_segment():
    assert scope_of("/research/notes/0") == "research"
    assert scope_of("progress") == "progress"
    assert scope_of("/a~1b/c") == "a/b"


def test_set_append_remove():
    state = {"a": {"b": 1}, "list": [1, 2]}
    result = apply_patches(
        state,
        [
            ("set", "/a/c", 2),
            ("set", "/new/deep", True),
            ("append", "/list", 3),
            ("append", "/fresh", "x"),
            ("set", "/list/0", 10),
            ("set", "/list/-", 4),
            ("remove", "/a/b", None),
            ("remove", "/list/1", None),
            ("set", "top", "level"),
        ],
    )
    assert result == {
        "a": {"c": 2},
        "list": [10, 3, 4],
        "new": {"deep": True},
        "fresh": ["x"],
        "top": "level",
    }
    assert state == {"a": {"b": 1}, "list": [1, 2]}  # the input is never modified


def test_escaped_keys_round_trip():
    result = apply_patches({}, [("set", "/a~1b", 1), ("set", "/m~0n", 2)])
    assert result == {"a/b": 1, "m~n": 2}
    assert apply_patches(result, [("remove", "/a~1b", None)]) == {"m~n": 2}


def test_root_set_replaces_the_document():
    assert apply_patches({"a": 1}, [("set", "", {"b": 2})]) == {"b": 2}


@pytest.mark.parametrize(
    "patch",
    [
        ("replace", "/a", 1),
        ("remove", "/missing", None),
        ("remove", "/a/missing", None),
        ("append", "/a", 1),  # /a is an object
        ("set", "/s/x", 1),  # /s is a scalar
        ("set", "/list/7", 1),
        ("set", "/list/01", 1),
        ("remove", "/list/-", None),
        ("set", "", 5),
        ("remove", "", None),
        ("set", "/bad~escape", 1),
    ],
)
def test_bad_patches_raise_and_leave_state_alone(patch):
    state = {"a": {"k": 1}, "s": "scalar", "list": [1]}
    with pytest.raises(InvalidInput) as caught:
        apply_patches(state, [("set", "/ok", 1), patch])
    assert caught.value.errors[0]["index"] == 1
    assert state == {"a": {"k": 1}, "s": "scalar", "list": [1]}


def test_empty_patch_list_is_invalid():
    with pytest.raises(InvalidInput):
        apply_patches({}, [])


# --- POST /intents/{id}/state -------------------------------------------------------------------


def patch(api, intent_id, body, if_match="1", **headers):
    if if_match is not None:
        headers["If-Match"] = if_match
    return api.post(f"{API}/intents/{intent_id}/state", json=body, headers=headers)


def log_of(api, intent_id) -> list[dict]:
    return api.get(f"{API}/intents/{intent_id}/events").json()["events"]


def test_patch_applies_and_bumps_the_version_once_per_request(api):
    intent = create(api, state={"items": [1]})
    response = patch(
        api,
        intent["id"],
        {
            "patches": [
                {"op": "set", "path": "progress", "value": 0.5},
                {"op": "set", "path": "/a~1b/m~0n", "value": "escaped"},
                {"op": "append", "path": "/items", "value": 2},
            ]
        },
    )
    assert response.status_code == 200, response.text
    assert response.headers["etag"] == '"2"'
    body = response.json()
    assert body["version"] == 2
    assert body["state"] == {"items": [1, 2], "progress": 0.5, "a/b": {"m~n": "escaped"}}

    response = patch(
        api, intent["id"], {"patches": [{"op": "remove", "path": "/items/0"}]}, if_match="2"
    )
    assert response.json()["state"]["items"] == [2]
    assert response.json()["version"] == 3

    state_events = [e for e in log_of(api, intent["id"]) if e["event_type"] == "state_patched"]
    assert [e["payload"]["version"] for e in state_events] == [2, 3]
    assert state_events[0]["payload"]["patches"][0] == {
        "op": "set",
        "path": "progress",
        "value": 0.5,
    }
    assert all(e["actor"] == "tester" for e in state_events)


def test_the_log_keeps_each_patch_value_as_sent(api):
    """A later patch in the same request changes the state, never an earlier patch's value."""
    intent = create(api)
    patches = [
        {"op": "set", "path": "/plan", "value": {"steps": []}},
        {"op": "append", "path": "/plan/steps", "value": "draft"},
        {"op": "set", "path": "/copy", "value": ["x"]},
        {"op": "append", "path": "/copy", "value": "y"},
    ]
    response = patch(api, intent["id"], {"patches": patches})
    assert response.status_code == 200, response.text
    assert response.json()["state"] == {"plan": {"steps": ["draft"]}, "copy": ["x", "y"]}
    (logged,) = [e for e in log_of(api, intent["id"]) if e["event_type"] == "state_patched"]
    assert logged["payload"]["patches"] == patches


def test_state_object_form_sets_top_level_keys(api):
    intent = create(api, state={"keep": 1})
    response = patch(api, intent["id"], {"state": {"a": 1, "b/c": 2}})
    assert response.status_code == 200, response.text
    assert response.json()["state"] == {"keep": 1, "a": 1, "b/c": 2}


def test_if_match_accepts_the_etag_forms(api):
    intent = create(api)
    body = {"patches": [{"op": "set", "path": "/n", "value": 1}]}
    assert patch(api, intent["id"], body, if_match='"1"').status_code == 200
    assert patch(api, intent["id"], body, if_match='W/"2"').status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"patches": [{"op": "replace", "path": "/a", "value": 1}]},
        {"patches": [{"op": "remove", "path": "/missing"}]},
        {"patches": [{"op": "set", "path": "/bad~2", "value": 1}]},
        {"patches": [{"op": "set", "path": "/ok", "value": 1}, {"op": "nope", "path": "/x"}]},
        {"patches": [{"op": "set", "value": 1}]},
        {"patches": []},
        {"patches": [{"op": "set", "path": "/a", "value": 1, "extra": 1}]},
        {"patches": "set everything"},
    ],
    ids=["op", "missing", "escape", "second-bad", "no-path", "empty", "extra-field", "not-list"],
)
def test_bad_patch_is_400_and_changes_nothing(api, body):
    intent = create(api, state={"a": 1})
    before_log = log_of(api, intent["id"])
    assert_error(patch(api, intent["id"], body), 400)
    after = api.get(f"{API}/intents/{intent['id']}").json()
    assert after["version"] == 1 and after["state"] == {"a": 1}
    assert log_of(api, intent["id"]) == before_log


@pytest.mark.parametrize("if_match", [None, "", "abc", "1.0", "-1", "v1"])
def test_missing_or_malformed_if_match_is_400(api, if_match):
    intent = create(api)
    body = assert_error(
        patch(api, intent["id"], {"state": {"a": 1}}, if_match=if_match),
        400,
    )
    assert "If-Match" in body["detail"]
    assert api.get(f"{API}/intents/{intent['id']}").json()["version"] == 1


def test_stale_if_match_is_409_with_current_version(api):
    intent = create(api)
    assert patch(api, intent["id"], {"state": {"a": 1}}).status_code == 200
    response = patch(api, intent["id"], {"state": {"a": 2}}, if_match="1")
    body = assert_error(response, 409)
    assert body["current_version"] == 2
    assert response.headers["etag"] == '"2"'
    assert "lease" not in response.text.lower()  # the SDK would raise LeaseConflictError
    after = api.get(f"{API}/intents/{intent['id']}").json()
    assert after["state"] == {"a": 1} and after["version"] == 2


def test_patch_unknown_intent_is_404(api):
    assert_error(patch(api, "nope", {"state": {"a": 1}}), 404)


def test_patch_response_is_exactly_the_stored_intent(api):
    intent = create(api, state={"a": 1}, constraints={"c": True})
    api.post(f"{API}/intents/{intent['id']}/agents", json={"agent_id": "helper"})
    response = patch(api, intent["id"], {"patches": [{"op": "set", "path": "/b", "value": 2}]})
    assert response.status_code == 200, response.text
    stored = api.get(f"{API}/intents/{intent['id']}").json()
    assert response.json() == stored
    assert stored["agents"] == ["helper"] and stored["last_activity_at"] == stored["updated_at"]
