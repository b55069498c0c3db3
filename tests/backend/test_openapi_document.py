"""`/docs/openapi.json` tells the truth about every operation: the error body, the statuses a
route can answer, who needs a key, required headers, and which responses are event streams.
(tests/fuzz/test_openapi_conformance.py then checks real responses against it.)"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import msgspec
import pytest

from backend.wire.base import ErrorBody

API = "/api/v1"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
FEDERATION_PUBLIC = {
    "/.well-known/openintent-federation.json",  # 404 while federation is not enabled
    "/.well-known/did.json",
    f"{API}/federation/receive",  # authenticated by the envelope's signature (or a key)
    f"{API}/federation/callback",
}
PUBLIC = {"/health", f"{API}/health", "/.well-known/openintent.json", *FEDERATION_PUBLIC}
SSE = re.compile(r"(/subscribe(/|$)|^/api/v1/events/stream$)")
ERROR_REF = "#/components/schemas/ErrorBody"


@pytest.fixture(scope="module")
def document(tmp_path_factory) -> dict[str, Any]:
    from tests.support import run_server

    with run_server(tmp_path_factory.mktemp("doc") / "oi.db") as live:
        response = httpx.get(f"{live.url}/docs/openapi.json")  # public: no key
        assert response.status_code == 200
        yield response.json()


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def takes_input(path: str, operation: dict[str, Any]) -> bool:
    return "{" in path or bool(operation.get("parameters")) or "requestBody" in operation


def test_there_are_operations_and_no_document_wide_security(document):
    assert len(list(operations(document))) > 50
    assert "security" not in document  # each operation says whether it needs the key
    assert document["components"]["securitySchemes"]["apiKey"] == {
        "type": "apiKey",
        "name": "X-API-Key",
        "in": "header",
    }


def test_every_error_response_is_the_error_body(document):
    for path, method, operation in operations(document):
        for status, response in operation["responses"].items():
            if not status.startswith(("4", "5")):
                continue
            content = response.get("content", {})
            assert list(content) == ["application/json"], (method, path, status)
            assert content["application/json"]["schema"] == {"$ref": ERROR_REF}, (
                method,
                path,
                status,
            )
            assert response["description"], (method, path, status)


def test_the_error_body_schema_is_what_the_server_sends(document):
    schema = document["components"]["schemas"]["ErrorBody"]
    fields = {f.encode_name for f in msgspec.structs.fields(ErrorBody)}
    assert set(schema["properties"]) == fields
    assert sorted(schema["required"]) == ["detail", "message"]
    assert not {"status_code", "extra"} & set(schema["properties"])


def test_statuses_follow_from_each_operations_shape(document):
    for path, method, operation in operations(document):
        statuses = set(operation["responses"])
        where = f"{method.upper()} {path}"
        if takes_input(path, operation):
            assert "400" in statuses, where
        if "{" in path:
            assert "404" in statuses, where
        if operation.get("security"):
            assert "401" in statuses, where
        if method in ("post", "put", "patch"):
            assert "requestBody" in operation, where
            assert {"413", "415"} <= statuses, where
        assert not any(s.startswith("5") for s in statuses), where  # a 5xx is a bug


def test_conflicts_and_forbidden_are_documented_where_they_happen(document):
    paths = document["paths"]
    intent = f"{API}/intents/{{intent_id}}"
    lease = f"{intent}/leases/{{lease_id}}"
    for path, method in [
        (f"{intent}/state", "post"),
        (f"{intent}/status", "post"),
        (f"{intent}/leases", "post"),
        (lease, "patch"),
        (f"{lease}/revoke", "post"),
        (f"{intent}/decisions", "post"),
        (f"{API}/portfolios/{{portfolio_id}}/intents", "post"),
    ]:
        assert "409" in paths[path][method]["responses"], (method, path)
    for method in ("patch", "delete"):
        assert "403" in paths[lease][method]["responses"], (method, lease)


def test_only_public_routes_go_without_the_key(document):
    for path, method, operation in operations(document):
        if path in PUBLIC:
            assert not operation.get("security"), path
        else:
            assert path.startswith(f"{API}/"), path
            assert operation.get("security") == [{"apiKey": []}], (method, path)


def test_security_as_documented_is_what_the_server_enforces(document, server):
    with httpx.Client(base_url=server.url, timeout=10) as anonymous:
        for path, method, operation in operations(document):
            if method != "get" or SSE.search(path):
                continue
            url = re.sub(r"\{[^}]+\}", "nope", path)
            status = anonymous.get(url).status_code
            if operation.get("security"):
                assert status == 401, path
            elif path in FEDERATION_PUBLIC:  # the test server runs without federation
                assert status == 404 and "404" in operation["responses"], path
            else:
                assert status == 200, path


def test_if_match_is_required_where_the_server_requires_it(document):
    for path in (f"{API}/intents/{{intent_id}}/state", f"{API}/intents/{{intent_id}}/status"):
        headers = {
            p["name"]: p
            for p in document["paths"][path]["post"]["parameters"]
            if p["in"] == "header"
        }
        assert headers["If-Match"]["required"] is True, path


def test_streams_are_documented_as_event_streams(document):
    streams = 0
    for path, _, operation in operations(document):
        success = [r for s, r in operation["responses"].items() if s.startswith("2")]
        media = {m for r in success for m in r.get("content", {})}
        if SSE.search(path):
            streams += 1
            assert media == {"text/event-stream"}, path
            # OpenAPI 3.1: the schema of an event stream describes each event
            schema = success[0]["content"]["text/event-stream"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ServerSentEvent"}, path
        else:
            assert "text/event-stream" not in media, path
    assert streams == 7
    event = document["components"]["schemas"]["ServerSentEvent"]
    assert sorted(event["required"]) == ["data", "event", "id"]


def test_no_schema_is_unsatisfiable_for_integers(document):
    """`oneOf: [integer, number]` rejects every integer (it matches both branches)."""

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            branches = node.get("oneOf", [])
            types = [b.get("type") for b in branches if isinstance(b, dict)]
            assert not ("integer" in types and "number" in types), where
            for key, value in node.items():
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{where}[{i}]")

    walk(document, "")
    assert document["components"]["schemas"]["CostCreate"]["properties"]["amount"] == {
        "type": "number"
    }


def test_attachment_upload_documents_its_body(document):
    operation = document["paths"][f"{API}/intents/{{intent_id}}/attachments"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert schema["required"] == ["filename"]
    assert {"content", "storage_url", "mime_type"} <= set(schema["properties"])


def test_intent_responses_document_their_etag(document):
    intent = f"{API}/intents/{{intent_id}}"
    for path, method in [
        (f"{API}/intents", "post"),
        (intent, "get"),
        (f"{intent}/state", "post"),
        (f"{intent}/status", "post"),
        (f"{intent}/children", "post"),
    ]:
        (success,) = [r for s, r in document["paths"][path][method]["responses"].items() if s < "3"]
        assert success["headers"]["ETag"]["required"] is True, (method, path)


@pytest.mark.parametrize("scope", ["intent_id", "portfolio_id"])
def test_a_subscription_to_an_unknown_scope_is_a_documented_404(document, api, scope):
    """Found by Schemathesis: the id is in the body, not the path, and the 404 was missing."""
    response = api.post(f"{API}/subscriptions", json={scope: "no-such-id"})
    assert response.status_code == 404
    assert set(response.json()) >= {"detail", "message"}
    assert "404" in document["paths"][f"{API}/subscriptions"]["post"]["responses"]


def test_federation_routes_document_their_bodies_and_failures(document):
    paths = document["paths"]
    receive = paths[f"{API}/federation/receive"]["post"]
    schema = receive["requestBody"]["content"]["application/json"]["schema"]
    assert {"dispatch_id", "source_server", "intent_id", "intent_title"} <= set(schema["required"])
    assert "$ref" not in str(schema)  # the nested delegation scope is written in place
    assert {"400", "401", "403", "409", "413", "415"} <= set(receive["responses"])
    callback = paths[f"{API}/federation/callback"]["post"]
    assert (
        "event_type" in callback["requestBody"]["content"]["application/json"]["schema"]["required"]
    )
    assert {"400", "401", "404", "413", "415"} <= set(callback["responses"])
    dispatch = paths[f"{API}/federation/dispatch"]["post"]
    assert {"400", "401", "403", "404", "413", "415"} <= set(dispatch["responses"])
    limit = {p["name"]: p for p in paths[f"{API}/federation/dispatches"]["get"]["parameters"]}[
        "limit"
    ]
    assert limit["schema"]["maximum"] == 1000
