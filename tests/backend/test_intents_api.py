"""Intents over HTTP: create, get, list, children/dependencies, and every error case."""

from __future__ import annotations

import httpx
import pytest

API = "/api/v1"


def create(api: httpx.Client, **fields) -> dict:
    response = api.post(f"{API}/intents", json={"title": "An intent", **fields})
    assert response.status_code == 201, response.text
    return response.json()


def assert_error(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body["detail"], str) and body["detail"]
    assert body["message"] == body["detail"]
    return body


def total_intents(api: httpx.Client) -> int:
    return api.get(f"{API}/intents").json()["total"]


# --- create ---------------------------------------------------------------------------------


def test_create_with_every_field(api):
    parent = create(api, title="Parent")
    dependency = create(api, title="Dependency")
    response = api.post(
        f"{API}/intents",
        json={
            "title": "Child",
            "description": "All fields set",
            "constraints": {"budget": 10},
            "state": {"progress": 0},
            "created_by": "alice",
            "parent_intent_id": parent["id"],
            "depends_on": [dependency["id"], dependency["id"]],
            "governance_policy": {"require_status_reason": True},
            "status": "active",
        },
    )
    assert response.status_code == 201, response.text
    assert response.headers["etag"] == '"1"'
    intent = response.json()
    assert intent["title"] == "Child"
    assert intent["description"] == "All fields set"
    assert intent["constraints"] == {"budget": 10}
    assert intent["state"] == {"progress": 0}
    assert intent["created_by"] == "alice"
    assert intent["parent_intent_id"] == parent["id"]
    assert intent["depends_on"] == [dependency["id"]]  # duplicates collapse
    assert intent["governance_policy"] == {"require_status_reason": True}
    assert intent["status"] == "active"
    assert intent["version"] == 1
    assert intent["created_at"].endswith("+00:00")
    assert intent["updated_at"] == intent["created_at"]

    fetched = api.get(f"{API}/intents/{intent['id']}")
    assert fetched.json() == intent
    log = api.get(f"{API}/intents/{intent['id']}/events").json()["events"]
    assert [e["event_type"] for e in log] == ["intent_created"]
    assert log[0]["payload"]["title"] == "Child"
    assert log[0]["payload"]["parent_intent_id"] == parent["id"]
    assert log[0]["payload"]["created_by"] == "alice"
    assert log[0]["actor"] == "tester"  # who acted (X-Agent-ID), not who the body names


def test_create_defaults(api):
    intent = create(api, title="Minimal")
    assert intent["status"] == "draft"
    assert intent["description"] == ""
    assert intent["state"] == {} and intent["constraints"] == {}
    assert intent["parent_intent_id"] is None and intent["depends_on"] == []
    assert intent["created_by"] == "tester"  # X-Agent-ID when the body names nobody


def test_create_accepts_parent_id_alias_and_null_description(api):
    parent = create(api, title="Parent")
    child = create(api, title="Child", parent_id=parent["id"], description=None)
    assert child["parent_intent_id"] == parent["id"]
    assert child["description"] == ""


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"title": ""},
        {"title": "   "},
        {"title": 5},
        {"title": "x", "surprise": 1},
        {"title": "x", "status": "completed"},
        {"title": "x", "state": []},
        {"title": "x", "depends_on": "not-a-list"},
    ],
    ids=[
        "no-title",
        "empty",
        "blank",
        "wrong-type",
        "unknown-field",
        "bad-status",
        "state-not-object",
        "depends-not-list",
    ],
)
def test_bad_create_is_400_and_creates_nothing(api, body):
    before = total_intents(api)
    assert_error(api.post(f"{API}/intents", json=body), 400)
    assert total_intents(api) == before


def test_create_with_unknown_parent_or_dependency_is_400(api):
    existing = create(api)
    before = total_intents(api)
    body = assert_error(
        api.post(f"{API}/intents", json={"title": "x", "parent_intent_id": "nope"}), 400
    )
    assert body["errors"][0]["field"] == "parent_intent_id"
    body = assert_error(
        api.post(f"{API}/intents", json={"title": "x", "depends_on": [existing["id"], "gone"]}),
        400,
    )
    assert body["errors"][0] == {"field": "depends_on", "value": "gone"}
    assert total_intents(api) == before


def test_malformed_json_is_400(api):
    response = api.post(
        f"{API}/intents", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert_error(response, 400)


# --- get --------------------------------------------------------------------------------------


def test_get_unknown_intent_is_404_json(api):
    body = assert_error(api.get(f"{API}/intents/does-not-exist"), 404)
    assert "does-not-exist" in body["detail"]


def test_get_carries_the_etag(api):
    intent = create(api)
    response = api.get(f"{API}/intents/{intent['id']}")
    assert response.status_code == 200
    assert response.headers["etag"] == '"1"'


# --- list -------------------------------------------------------------------------------------


def test_list_filters_and_pagination(api, server):
    parent = create(api, title="Root of all")
    with server.client(agent_id="bob") as bob:
        mine = [create(bob, title=f"Bob task {i}", parent_intent_id=parent["id"]) for i in range(3)]
    active = create(api, title="Active thing", status="active")

    everything = api.get(f"{API}/intents").json()
    assert everything["total"] == 5
    assert [i["id"] for i in everything["intents"]][:2] == [active["id"], mine[2]["id"]]

    by_status = api.get(f"{API}/intents", params={"status": "active"}).json()
    assert by_status["total"] == 1 and by_status["intents"][0]["id"] == active["id"]

    by_creator = api.get(f"{API}/intents", params={"created_by": "bob"}).json()
    assert {i["id"] for i in by_creator["intents"]} == {m["id"] for m in mine}

    by_parent = api.get(f"{API}/intents", params={"parent_intent_id": parent["id"]}).json()
    assert by_parent["total"] == 3

    by_text = api.get(f"{API}/intents", params={"q": "BOB TASK 1"}).json()
    assert [i["id"] for i in by_text["intents"]] == [mine[1]["id"]]

    combined = api.get(f"{API}/intents", params={"created_by": "bob", "status": "active"}).json()
    assert combined == {
        "intents": [],
        "total": 0,
        "limit": 50,
        "offset": 0,
        "next_offset": None,
        "next_cursor": None,  # issue 16's contract: keyset paging beside the offset
    }

    first = api.get(f"{API}/intents", params={"limit": 2, "offset": 0}).json()
    second = api.get(f"{API}/intents", params={"limit": 2, "offset": 2}).json()
    third = api.get(f"{API}/intents", params={"limit": 2, "offset": 4}).json()
    assert first["total"] == second["total"] == third["total"] == 5
    assert (first["limit"], second["offset"]) == (2, 2)
    pages = [i["id"] for page in (first, second, third) for i in page["intents"]]
    assert pages == [i["id"] for i in everything["intents"]]


@pytest.mark.parametrize(
    "params", [{"status": "bogus"}, {"limit": 0}, {"limit": "many"}, {"offset": -1}]
)
def test_list_rejects_bad_parameters(api, params):
    assert_error(api.get(f"{API}/intents", params=params), 400)


# --- graph --------------------------------------------------------------------------------------


def test_children_and_dependencies(api):
    parent = create(api, title="Parent")
    dependency = create(api, title="Dependency")
    response = api.post(
        f"{API}/intents/{parent['id']}/children",
        json={"title": "Child", "depends_on": [dependency["id"]]},
    )
    assert response.status_code == 201, response.text
    child = response.json()
    assert child["parent_intent_id"] == parent["id"]

    children = api.get(f"{API}/intents/{parent['id']}/children").json()["children"]
    assert [c["id"] for c in children] == [child["id"]]
    deps = api.get(f"{API}/intents/{child['id']}/dependencies").json()["dependencies"]
    assert [d["id"] for d in deps] == [dependency["id"]]
    assert api.get(f"{API}/intents/{dependency['id']}/dependencies").json() == {
        "dependencies": [],
        "next_offset": None,
    }


def test_graph_endpoints_404_for_unknown_intents(api):
    before = total_intents(api)
    assert_error(api.post(f"{API}/intents/nope/children", json={"title": "Orphan"}), 404)
    assert total_intents(api) == before
    assert_error(api.get(f"{API}/intents/nope/children"), 404)
    assert_error(api.get(f"{API}/intents/nope/dependencies"), 404)
