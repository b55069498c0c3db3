"""What every request meets before a handler: auth, routing errors, body limits, aliases,
discovery, health, OpenAPI; and the promise that the API key never lands in stored data."""

from __future__ import annotations

import hashlib
import logging

import pytest

from backend import app as app_module
from tests.support import run_server

from .test_intents_api import API, assert_error, create


def test_missing_or_wrong_key_is_401_json(server):
    with server.client() as client:
        for headers in ({"X-API-Key": "wrong"}, {"X-API-Key": ""}):
            body = assert_error(client.get(f"{API}/intents", headers=headers), 401)
            assert body["detail"] == "Invalid or missing API key"
    with server.client() as client:
        client.headers.pop("X-API-Key")
        assert_error(client.get(f"{API}/intents"), 401)
        assert_error(client.post("/v1/intents", json={"title": "x"}), 401)


def test_unknown_route_is_404_json(api):
    assert_error(api.get(f"{API}/no-such-thing"), 404)
    assert_error(api.get("/nowhere"), 404)


def test_wrong_method_is_405_json(api):
    assert_error(api.put(f"{API}/intents"), 405)
    assert_error(api.delete(f"{API}/intents/some-id"), 405)


def test_oversized_body_is_413_json_and_creates_nothing(api, server):
    big = "x" * (server.settings.max_body_bytes + 1)
    before = api.get(f"{API}/intents").json()["total"]
    assert_error(api.post(f"{API}/intents", json={"title": big}), 413)
    assert api.get(f"{API}/intents").json()["total"] == before


def test_v1_paths_alias_api_v1(api):
    made = api.post("/v1/intents", json={"title": "Via alias"})
    assert made.status_code == 201, made.text
    intent = made.json()
    assert api.get(f"{API}/intents/{intent['id']}").json() == intent
    patched = api.post(
        f"/v1/intents/{intent['id']}/state", json={"state": {"a": 1}}, headers={"If-Match": "1"}
    )
    assert patched.json()["version"] == 2
    assert len(api.get(f"/v1/intents/{intent['id']}/events").json()["events"]) == 2


def test_health_and_discovery_are_public(server):
    with server.client() as client:
        client.headers.pop("X-API-Key")
        for path in ("/health", f"{API}/health"):
            health = client.get(path)
            assert health.status_code == 200
            assert health.json()["status"] == "ok"
        discovery = client.get("/.well-known/openintent.json")
        assert discovery.status_code == 200
        doc = discovery.json()
    assert doc["openApiUrl"] == "/docs/openapi.json"
    assert doc["endpoints"]["api"] == API


def test_discovery_lists_exactly_the_wired_capabilities(server):
    with server.client() as client:
        doc = client.get("/.well-known/openintent.json").json()
        schema = client.get("/docs/openapi.json").json()
    wired = {c for feature in app_module.FEATURES for c in feature.CAPABILITIES}
    assert doc["capabilities"] == sorted(wired)
    # The foundation's claims, each backed by a route the OpenAPI document really has.
    backing = {
        "intents": f"{API}/intents",
        "state-patches": f"{API}/intents/{{intent_id}}/state",
        "optimistic-concurrency": f"{API}/intents/{{intent_id}}/status",
        "intent-graphs": f"{API}/intents/{{intent_id}}/children",
        "agents": f"{API}/intents/{{intent_id}}/agents",
        "events": f"{API}/intents/{{intent_id}}/events",
    }
    for capability, path in backing.items():
        assert capability in doc["capabilities"]
        assert path in schema["paths"], path


def test_openapi_document_and_docs_page(server):
    with server.client() as client:
        client.headers.pop("X-API-Key")
        schema = client.get("/docs/openapi.json")
        assert schema.status_code == 200
        document = schema.json()
        assert document["openapi"].startswith("3.")
        assert f"{API}/intents" in document["paths"]
        assert not any(p.startswith("/v1/") for p in document["paths"])  # aliases stay hidden
        assert document["components"]["securitySchemes"]["apiKey"]["name"] == "X-API-Key"
        page = client.get("/docs")
        assert page.status_code == 200
        assert "text/html" in page.headers["content-type"]


@pytest.mark.parametrize("agent_id", ["worker-7", None])
def test_api_key_never_reaches_stored_data(server, agent_id):
    key = server.api_key.encode()
    with server.client(agent_id=agent_id) as client:
        parent = create(client, title="Parent")
        intent = create(client, title="Child", parent_intent_id=parent["id"])
        iid = intent["id"]
        client.post(
            f"{API}/intents/{iid}/state", json={"state": {"a": 1}}, headers={"If-Match": "1"}
        )
        client.post(
            f"{API}/intents/{iid}/status", json={"status": "active"}, headers={"If-Match": "2"}
        )
        client.post(f"{API}/intents/{iid}/events", json={"event_type": "comment"})
        client.post(f"{API}/intents/{iid}/agents", json={"agent_id": "helper"})
        client.delete(f"{API}/intents/{iid}/agents/helper")
        log = client.get(f"{API}/intents/{iid}/events").json()["events"]
        everything = client.get(f"{API}/intents").json()
    assert len(log) == 6
    assert {e["actor"] for e in log} == {agent_id}
    assert server.api_key not in str(log) + str(everything)
    if server.settings.postgres_url:
        pytest.skip("the rest reads the SQLite file's bytes")
    db = server.settings.db_path
    stored = b"".join(p.read_bytes() for p in (db, db.with_name(db.name + "-wal")) if p.exists())
    assert len(stored) > 0 and b"Child" in stored  # we are looking at the right bytes
    assert key not in stored


def test_a_key_configured_only_as_its_sha256_digest_is_accepted(tmp_path):
    other = "key-known-only-by-its-hash"
    with (
        run_server(
            tmp_path / "h.db", api_key_hashes=[hashlib.sha256(other.encode()).hexdigest()]
        ) as live,
        live.client() as client,
    ):
        assert client.get(f"{API}/intents", headers={"X-API-Key": other}).status_code == 200
        assert client.get(f"{API}/intents", headers={"X-API-Key": other + "x"}).status_code == 401
        assert client.get(f"{API}/intents").status_code == 200  # the plain key still works


def test_the_app_leaves_the_process_logging_alone(tmp_path):
    """Whoever runs the app (the CLI, the console, a test) configures logging; the app must
    not raise the root logger to INFO (every httpx request of an in-process client would
    then be logged)."""
    root = logging.getLogger()
    before = (root.level, list(root.handlers))
    with run_server(tmp_path / "oi.db") as live, live.client() as client:
        assert client.get("/health").status_code == 200
        assert (root.level, list(root.handlers)) == before
