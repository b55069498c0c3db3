"""No request input gives a 500 or a traceback, parsing is strict on both request paths, and
sizes are bounded (README "Limits and strictness"). Each test posts one class of bad input to
every endpoint it concerns (the JSON-body endpoints are read from the app's own routes, so a
new endpoint is covered without editing this file) and checks: a 4xx with the JSON error
shape, nothing changed, nothing logged as an error."""

from __future__ import annotations

import logging
import re
import socket
from collections.abc import Iterator

import httpx
import msgspec
import pytest
from litestar.openapi.spec import Operation

from backend.app import create_app
from backend.settings import Settings
from tests.support import run_server

from .test_intents_api import API, assert_error, create

_PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")
DEEP = b"[" * 10_000 + b"]" * 10_000


def json_endpoints() -> list[tuple[str, str]]:
    """(method, path template) of every /api/v1 handler that reads a JSON body (federation
    routes included: the app registers them even while federation is disabled)."""
    app = create_app(msgspec.structs.replace(Settings(), api_keys=["k"], db=":memory:"))
    found = set()
    for route in app.routes:
        if not route.path.startswith(API):
            continue
        for handler in getattr(route, "route_handlers", ()):
            reads_json = "data" in handler.parsed_fn_signature.parameters
            # a handler that reads its own body documents it with json_body_operation
            reads_own_body = handler.operation_class is not Operation
            if reads_json or reads_own_body:
                for method in handler.http_methods & {"POST", "PUT", "PATCH"}:
                    found.add((method, route.path))
    return sorted(found)


def list_endpoints() -> list[str]:
    app = create_app(msgspec.structs.replace(Settings(), api_keys=["k"], db=":memory:"))
    found = set()
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            if route.path.startswith(API) and "limit" in handler.parsed_fn_signature.parameters:
                found.add(route.path)
    return sorted(found)


class World:
    """Everything a refused request could have changed, read through the API."""

    def __init__(self, api: httpx.Client) -> None:
        self.api = api
        self.intent = create(api, title="hardening", state={"arr": [10, 20]})
        self.iid = self.intent["id"]
        lease = api.post(f"{API}/intents/{self.iid}/leases", json={"scope": "held"})
        assert lease.status_code == 201, lease.text
        self.lease_id = lease.json()["id"]
        portfolio = api.post(f"{API}/portfolios", json={"name": "p"})
        assert portfolio.status_code == 201, portfolio.text
        self.portfolio_id = portfolio.json()["id"]

    def url(self, template: str) -> str:
        ids = {
            "intent_id": self.iid,
            "lease_id": self.lease_id,
            "portfolio_id": self.portfolio_id,
        }
        return _PARAM.sub(lambda m: ids.get(m.group(1), "x"), template)

    def snapshot(self) -> list:
        api = self.api
        reads = [
            f"{API}/events?limit=1000",
            f"{API}/intents?limit=1000",
            f"{API}/intents/{self.iid}",
            f"{API}/intents/{self.iid}/leases?status=all",
            f"{API}/intents/{self.iid}/costs",
            f"{API}/intents/{self.iid}/failures",
            f"{API}/intents/{self.iid}/attachments",
            f"{API}/intents/{self.iid}/decisions",
            f"{API}/arbitrations",
            f"{API}/portfolios",
            f"{API}/subscriptions",
        ]
        return [api.get(path).json() for path in reads]


@pytest.fixture
def world(api, server) -> World:
    return World(api)


@pytest.fixture
def quiet_log(caplog) -> Iterator[None]:
    """Fails the test if the server logged an error or any traceback meanwhile."""
    caplog.set_level(logging.WARNING)
    yield
    bad = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not bad, [r.getMessage() for r in bad]


def refused(response: httpx.Response, *statuses: int) -> dict:
    assert 400 <= response.status_code < 500, (response.request.url, response.text[:300])
    if statuses:
        assert response.status_code in statuses, (response.request.url, response.text[:300])
    return assert_error(response, response.status_code)


def send(world: World, method: str, template: str, **kwargs) -> httpx.Response:
    headers = {"If-Match": str(world.intent["version"]), **kwargs.pop("headers", {})}
    return world.api.request(method, world.url(template), headers=headers, **kwargs)


# 4. No 500s from input -------------------------------------------------------------------


def test_deep_nesting_is_400_on_every_json_endpoint(world, quiet_log):
    before = world.snapshot()
    endpoints = json_endpoints()
    assert len(endpoints) >= 15
    json_ct = {"Content-Type": "application/json"}
    for method, template in endpoints:
        nested = b'{"title": "t", "state": {"deep": ' + DEEP + b"}}"
        for content in (DEEP, nested):
            response = send(world, method, template, content=content, headers=json_ct)
            refused(response, 400)
    # 500 levels inside a patch value, and a state stacked deeper patch by patch
    state = f"{API}/intents/{world.iid}/state"
    value = msgspec.json.encode({"patches": [{"op": "set", "path": "/v", "value": 0}]})
    deep_value = value.replace(b"0}", b"[" * 500 + b"]" * 500 + b"}")
    refused(send(world, "POST", state, content=deep_value, headers=json_ct), 400)
    stacked = {"op": "set", "path": "/a" * 40, "value": eval("[" * 30 + "]" * 30)}
    refused(send(world, "POST", state, json={"patches": [stacked]}), 400)
    refused(send(world, "POST", state, json={"patches": [{"op": "set", "path": "/a" * 65}]}), 400)
    assert world.snapshot() == before


def test_non_ascii_digits_are_400(world, server, quiet_log):
    before = world.snapshot()
    api, iid = world.api, world.iid
    # b"\xb2" is "²" to a latin-1 header reader: str.isdigit() says yes, int() says no
    for header in (b"\xb2", b"1\xb2", "\u0661".encode(), b"\xd9\xa1"):
        for path in (f"{API}/intents/{iid}/state", f"{API}/intents/{iid}/status"):
            body = {"state": {"x": 1}} if path.endswith("state") else {"status": "active"}
            refused(api.post(path, json=body, headers={"If-Match": header}), 400)
    for value in (
        "%C2%B2",
        "%D9%A1",
        "%EF%BC%91",
    ):  # superscript two, Arabic-Indic one, fullwidth 1
        refused(api.get(f"{API}/intents/{iid}/subscribe?since={value}"), 400)
        refused(api.get(f"{API}/events/stream?since={value}"), 400)
        refused(api.get(f"{API}/intents?limit={value}"), 400)
        refused(api.get(f"{API}/events?after={value}"), 400)
    refused(api.get(f"{API}/intents/{iid}/subscribe", headers={"Last-Event-ID": b"\xb2"}), 400)
    # RFC 6901: an array index is ASCII digits without a leading zero
    for token in ("\u0661", "\uff11", "01", "+1", "1 "):
        patch = {"patches": [{"op": "set", "path": f"/arr/{token}", "value": 99}]}
        refused(api.post(f"{API}/intents/{iid}/state", json=patch, headers={"If-Match": "1"}), 400)
    assert world.snapshot() == before


def test_integers_beyond_64_bits_are_400(world, quiet_log):
    before = world.snapshot()
    api, iid = world.api, world.iid
    for big in (2**63, 2**64, 10**30, -(2**63) - 1):
        bodies = [
            ("POST", f"{API}/intents", {"title": "t", "confidence": big}),
            ("POST", f"{API}/intents/{iid}/leases", {"scope": "s", "duration_seconds": big}),
            ("PATCH", f"{API}/intents/{iid}/leases/{world.lease_id}", {"duration_seconds": big}),
            ("POST", f"{API}/intents/{iid}/costs", {"cost_type": "t", "amount": big, "unit": "u"}),
            ("PUT", f"{API}/intents/{iid}/retry-policy", {"max_retries": big}),
            ("PUT", f"{API}/intents/{iid}/retry-policy", {"failure_threshold": big}),
            ("POST", f"{API}/intents/{iid}/failures", {"attempt_number": big}),
            (
                "POST",
                f"{API}/portfolios/{world.portfolio_id}/intents",
                {"intent_id": iid, "priority": big},
            ),
        ]
        for method, path, body in bodies:
            refused(api.request(method, path, json=body), 400)
        for query in (
            f"{API}/events?after={big}",
            f"{API}/intents?offset={big}",
            f"{API}/intents/{iid}/events?cursor={big}",
            f"{API}/intents/{iid}/children?offset={big}",
            f"{API}/intents/{iid}/subscribe?since={big}",
            f"{API}/subscriptions/x/deliveries?after={big}",
        ):
            refused(api.get(query), 400)
    assert world.snapshot() == before


def test_empty_subscription_scope_is_400(world, quiet_log):
    before = world.snapshot()
    for body in (
        {"intent_id": "", "portfolio_id": world.portfolio_id},
        {"intent_id": world.iid, "portfolio_id": ""},
        {"intent_id": ""},
        {"portfolio_id": ""},
    ):
        refused(world.api.post(f"{API}/subscriptions", json=body), 400)
    assert world.snapshot() == before


# 5. Strict parsing -----------------------------------------------------------------------


def test_numbers_as_strings_or_floats_are_400_on_both_paths(world, quiet_log):
    before = world.snapshot()
    api, iid = world.api, world.iid
    for value in ("300", 300.0, True, "3e2"):
        bodies = [
            (
                "POST",
                f"{API}/intents/{iid}/leases",
                {"scope": "s", "duration_seconds": value},
            ),  # lean path
            ("PATCH", f"{API}/intents/{iid}/leases/{world.lease_id}", {"duration_seconds": value}),
            ("POST", f"{API}/intents", {"title": "t", "confidence": value}),
            ("PUT", f"{API}/intents/{iid}/retry-policy", {"max_retries": value}),
            (
                "POST",
                f"{API}/portfolios/{world.portfolio_id}/intents",
                {"intent_id": iid, "priority": value},
            ),
        ]
        for method, path, body in bodies:
            refused(api.request(method, path, json=body), 400)
    refused(
        api.post(f"{API}/intents/{iid}/costs", json={"cost_type": "t", "amount": "5", "unit": "u"}),
        400,
    )
    assert world.snapshot() == before


def test_query_integers_are_ascii_decimal_only(world, quiet_log):
    api, iid = world.api, world.iid
    for value in ("1e3", "5.0", "+5", "0x10", "1_000", " 5", "five", ""):
        for path in list_endpoints():
            refused(api.get(world.url(path), params={"limit": value}), 400)
        refused(api.get(f"{API}/intents", params={"offset": value}), 400)
        refused(api.get(f"{API}/intents/{iid}/events", params={"cursor": value}), 400)
    assert api.get(f"{API}/intents", params={"limit": "5", "offset": "0"}).status_code == 200


def test_bodies_must_be_declared_json(world, quiet_log):
    before = world.snapshot()
    body = b'{"title": "t", "state": {"x": 1}, "scope": "s", "event_type": "comment"}'
    for content_type in (None, "text/plain", "application/x-www-form-urlencoded", "text/json"):
        headers = {} if content_type is None else {"Content-Type": content_type}
        for method, template in json_endpoints():
            response = send(world, method, template, content=body, headers=headers)
            refused(response, 415)
    assert world.snapshot() == before
    # the JSON media types are accepted, with parameters
    for content_type in ("application/json; charset=utf-8", "application/merge-patch+json"):
        made = world.api.post(
            f"{API}/intents", content=b'{"title": "ok"}', headers={"Content-Type": content_type}
        )
        assert made.status_code == 201, made.text


def test_value_ranges(world, quiet_log):
    before = world.snapshot()
    for confidence in (-1, 101):
        refused(
            world.api.post(f"{API}/intents", json={"title": "t", "confidence": confidence}), 400
        )
    refused(
        world.api.post(
            f"{API}/intents/{world.iid}/leases", json={"scope": "s", "duration_seconds": -5}
        ),
        400,
    )
    assert world.snapshot() == before
    assert create(world.api, confidence=100)["confidence"] == 100


def raw_exchange(server, request: bytes) -> tuple[bytes, dict[bytes, bytes], bytes]:
    """One request on its own connection (`Connection: close`), read to the end."""
    host, port = server.url.removeprefix("http://").split(":")
    request = request.replace(b"KEY", server.api_key.encode())
    request = request.replace(b"\r\nHost: x\r\n", b"\r\nHost: x\r\nConnection: close\r\n")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(request)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    status, *lines = head.split(b"\r\n")
    return status, dict(line.lower().split(b": ", 1) for line in lines), body


def test_malformed_requests_that_reach_the_app_get_the_json_error_shape(server, quiet_log):
    """What the HTTP server itself refuses (a non-numeric Content-Length, say) it answers
    itself; everything that reaches the app is answered with the JSON error shape."""
    head = b"POST /api/v1/intents HTTP/1.1\r\nHost: x\r\nX-API-Key: KEY\r\n"
    cases = [
        head + b"Content-Type: application/json\r\nContent-Length: 3\r\n\r\n\xff\xfe}",
        head + b'Content-Type: \xff\r\nContent-Length: 14\r\n\r\n{"title": "t"}',
        head + b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"4\r\n[[[[\r\n0\r\n\r\n",
        head + b'Content-Length: 14\r\n\r\n{"title": "t"}',
        b"GET /api/v1/intents?limit=%FF HTTP/1.1\r\nHost: x\r\nX-API-Key: KEY\r\n\r\n",
    ]
    for request in cases:
        status, headers, body = raw_exchange(server, request)
        assert status.split()[1][:1] == b"4", (request, status, body)
        assert headers[b"content-type"].startswith(b"application/json"), (request, headers)
        error = msgspec.json.decode(body)
        assert error["detail"] and error["message"] == error["detail"]
    with server.client() as api:
        assert api.get(f"{API}/intents").json()["total"] == 0


# 6. Bounded sizes -----------------------------------------------------------------------


def test_field_sizes_are_capped(world, quiet_log):
    before = world.snapshot()
    api, iid = world.api, world.iid
    long = "x" * 20_001
    cases = [
        ("POST", f"{API}/intents", {"title": "x" * 1001}),
        ("POST", f"{API}/intents", {"title": "t", "description": long}),
        ("POST", f"{API}/intents", {"title": "t", "created_by": "a" * 201}),
        ("POST", f"{API}/intents", {"title": "t", "depends_on": ["d" * 201]}),
        ("POST", f"{API}/intents/{iid}/status", {"status": "active", "reason": long}),
        ("POST", f"{API}/intents/{iid}/events", {"event_type": "c" * 201}),
        ("POST", f"{API}/intents/{iid}/events", {"event_type": "comment", "actor": "a" * 201}),
        ("POST", f"{API}/intents/{iid}/leases", {"scope": "s" * 257}),
        ("POST", f"{API}/intents/{iid}/leases/{world.lease_id}/revoke", {"reason": long}),
        ("POST", f"{API}/intents/{iid}/agents", {"agent_id": "a" * 201}),
        ("POST", f"{API}/intents/{iid}/arbitrate", {"reason": long}),
        (
            "POST",
            f"{API}/intents/{iid}/decisions",
            {"decision_type": "d", "outcome": "o", "rationale": long},
        ),
        ("POST", f"{API}/intents/{iid}/costs", {"cost_type": "c" * 201, "amount": 1, "unit": "u"}),
        ("POST", f"{API}/intents/{iid}/failures", {"error_message": long}),
        ("POST", f"{API}/portfolios", {"name": "n" * 1001}),
        ("POST", f"{API}/subscriptions", {"subscriber_id": "s" * 201}),
        ("POST", f"{API}/subscriptions", {"webhook_url": "http://h/" + "p" * 2048}),
    ]
    for method, path, body in cases:
        headers = {"If-Match": "1"} if path.endswith("/status") else {}
        refused(api.request(method, path, json=body, headers=headers), 400)
    assert world.snapshot() == before


def test_page_sizes_are_capped(world, quiet_log):
    for path in list_endpoints():
        refused(world.api.get(world.url(path), params={"limit": 1001}), 400)
        refused(world.api.get(world.url(path), params={"limit": 5000}), 400)
    assert world.api.get(f"{API}/intents", params={"limit": 1000}).status_code == 200


def test_a_list_response_stops_at_the_byte_budget(tmp_path, quiet_log):
    budget = 200_000
    with run_server(tmp_path / "b.db", max_response_bytes=budget) as live, live.client() as api:
        made = [create(api, title=f"big {n}", state={"blob": "x" * 90_000}) for n in range(7)]
        for intent in made:
            for n in range(3):
                event = {"event_type": "comment", "payload": {"text": "y" * 90_000, "n": n}}
                assert (
                    api.post(f"{API}/intents/{intent['id']}/events", json=event).status_code == 201
                )
        seen, offset, pages = [], 0, 0
        while offset is not None:
            page = api.get(f"{API}/intents", params={"limit": 1000, "offset": offset})
            assert len(page.content) < budget + 120_000  # one intent past the budget at most
            body = page.json()
            seen += [i["id"] for i in body["intents"]]
            offset, pages = body["next_offset"], pages + 1
        assert sorted(seen) == sorted(i["id"] for i in made) and pages >= 4
        events, cursor = [], 0
        while cursor is not None:
            page = api.get(
                f"{API}/intents/{made[0]['id']}/events", params={"limit": 1000, "cursor": cursor}
            )
            assert len(page.content) < budget + 120_000
            events += page.json()["events"]
            cursor = page.json()["next_cursor"]
        assert [e["sequence"] for e in events] == [1, 2, 3, 4]
        backfill, after = [], 0
        while after is not None:
            page = api.get(f"{API}/events", params={"limit": 1000, "after": after}).json()
            backfill += page["events"]
            after = page["next_cursor"]
        assert len(backfill) == 7 * 4
        portfolio = api.post(f"{API}/portfolios", json={"name": "big"}).json()
        for intent in made:
            member = {"intent_id": intent["id"]}
            added = api.post(f"{API}/portfolios/{portfolio['id']}/intents", json=member)
            assert added.status_code == 201, added.text
        for path in (
            f"{API}/portfolios/{portfolio['id']}",
            f"{API}/portfolios/{portfolio['id']}/intents",
        ):
            members, offset = [], 0
            while offset is not None:
                page = api.get(path, params={"offset": offset})
                assert len(page.content) < budget + 120_000
                body = page.json()
                assert body["aggregate_status"]["total"] == 7  # always every member
                members += [i["id"] for i in body["intents"]]
                offset = body["next_offset"]
            assert sorted(members) == sorted(i["id"] for i in made)


def test_a_state_cannot_grow_past_the_body_limit(api, server, quiet_log):
    intent = create(api)
    half = "x" * (server.settings.max_body_bytes // 2 + 1000)
    state = f"{API}/intents/{intent['id']}/state"
    first = api.post(state, json={"state": {"a": half}}, headers={"If-Match": "1"})
    assert first.status_code == 200, first.text[:300]
    refused(api.post(state, json={"state": {"b": half}}, headers={"If-Match": "2"}), 413)
    assert api.get(f"{API}/intents/{intent['id']}").json()["version"] == 2


def test_the_depth_limit_is_a_setting(tmp_path, quiet_log):
    with run_server(tmp_path / "d.db", max_json_depth=6) as live, live.client() as api:
        deep4, deep5 = [[[[1]]]], [[[[[1]]]]]
        made = api.post(f"{API}/intents", json={"title": "t", "state": {"a": deep4}})
        assert made.status_code == 201, made.text  # body: 6 levels
        refused(api.post(f"{API}/intents", json={"title": "t", "state": {"a": deep5}}), 400)
        state = f"{API}/intents/{made.json()['id']}/state"

        def patch(path: str, version: int) -> httpx.Response:
            body = {"patches": [{"op": "set", "path": path, "value": [[1]]}]}  # body: 5 levels
            return api.post(state, json=body, headers={"If-Match": str(version)})

        assert patch("/b/c/d/e", 1).status_code == 200  # state: 4 + 2 levels
        refused(patch("/b/c/d/e/f", 2), 400)  # state: 5 + 2 levels


def test_every_list_with_client_owned_json_is_paged_by_the_budget(tmp_path, quiet_log):
    budget = 200_000
    with run_server(tmp_path / "l.db", max_response_bytes=budget) as live, live.client() as api:
        iid = create(api)["id"]
        blob = {"blob": "z" * 90_000}
        writes = {
            f"{API}/intents/{iid}/costs": {
                "cost_type": "llm",
                "amount": 2,
                "unit": "usd",
                "metadata": blob,
            },
            f"{API}/intents/{iid}/failures": {"error_message": "e", "metadata": blob},
            f"{API}/intents/{iid}/attachments": {
                "filename": "f",
                "url": "https://h/f",
                "metadata": blob,
            },
            f"{API}/intents/{iid}/decisions": {
                "decision_type": "d",
                "outcome": "o",
                "rationale": "r",
                "evidence": [blob],
            },
            f"{API}/intents/{iid}/arbitrate": {"reason": "r", "context": blob},
            f"{API}/portfolios": {"name": "p", "metadata": blob},
        }
        for path, body in writes.items():
            for _ in range(5):
                made = api.post(path, json=body)
                assert made.status_code == 201, made.text[:300]
        reads = {
            f"{API}/intents/{iid}/costs": "costs",
            f"{API}/intents/{iid}/failures": "failures",
            f"{API}/intents/{iid}/attachments": "attachments",
            f"{API}/intents/{iid}/decisions": "decisions",
            f"{API}/intents/{iid}/arbitrations": "arbitrations",
            f"{API}/arbitrations": "arbitrations",
            f"{API}/portfolios": "portfolios",
        }
        for path, key in reads.items():
            ids, offset, pages = [], 0, 0
            while offset is not None:
                page = api.get(path, params={"offset": offset})
                assert page.status_code == 200, page.text[:300]
                assert len(page.content) < budget + 120_000, path
                body = page.json()
                ids += [item["id"] for item in body[key]]
                offset, pages = body["next_offset"], pages + 1
                if key == "costs":
                    assert body["summary"]["count"] == 5 and body["summary"]["total"] == 10
            assert len(set(ids)) == len(ids) == 5 and pages >= 3, (path, pages)


def test_a_nul_character_is_kept_exactly_or_refused_with_400(world, server, quiet_log):
    """SQLite's text holds U+0000; PostgreSQL's cannot (its database refuses it). Either way
    no 5xx: kept exactly as sent, or a 400 that changes nothing."""
    postgres = server.settings.postgres_url is not None
    before = world.snapshot()
    attempts = [
        (f"{API}/intents", {"title": "a\u0000b"}, "title"),
        (f"{API}/intents", {"title": "ok", "description": "x\u0000"}, "description"),
        (f"{API}/intents/{world.iid}/leases", {"scope": "s\u0000"}, "scope"),
        (f"{API}/portfolios", {"name": "p\u0000"}, "name"),
    ]
    for path, body, field in attempts:
        response = world.api.post(path, json=body)
        if postgres:
            assert "\\u0000" in refused(response, 400)["detail"]
        else:
            assert response.status_code == 201, response.text
            assert response.json()[field] == body[field]
    lookup = world.api.get(f"{API}/intents/a%00b")
    refused(lookup, 400 if postgres else 404)
    if postgres:
        assert world.snapshot() == before
