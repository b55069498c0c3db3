"""The lean dispatch of hot endpoints (backend/api/fast.py) answers byte for byte what the
Litestar handlers answer: the same requests, success and every error, are sent once through
each path and the responses compared (status, headers that matter, body with ids and times
normalised)."""

from __future__ import annotations

import re

import httpx
import pytest

import backend.api.fast
from tests.support import API_KEY, run_server

API = "/api/v1"
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00")


def normalise(text: str) -> str:
    return _TIME.sub("<time>", _UUID.sub("<id>", text))


def script(client: httpx.Client) -> list[tuple[str, int, dict[str, str | None], str]]:
    """Every case of the lean endpoints, in order; returns what each response carried."""
    seen = []

    def record(response: httpx.Response) -> httpx.Response:
        headers = {h: response.headers.get(h) for h in ("etag", "content-type")}
        length = response.headers.get("content-length")
        assert length is None or int(length) == len(response.content)
        seen.append(
            (response.request.method, response.status_code, headers, normalise(response.text))
        )
        return response

    intent = client.post(f"{API}/intents", json={"title": "lean"}).json()
    iid = intent["id"]
    state = f"{API}/intents/{iid}/state"
    record(client.get(f"{API}/intents/{iid}"))
    record(client.get(f"{API}/intents/no-such-intent"))
    record(client.get(f"{API}/intents/{iid}", headers={"X-API-Key": "wrong"}))
    record(
        client.post(
            state,
            json={"patches": [{"op": "set", "path": "a", "value": 1}]},
            headers={"If-Match": "1"},
        )
    )
    record(client.post(state, json={"state": {"b/c": [1, 2]}}, headers={"If-Match": 'W/"2"'}))
    record(client.post(state, json={"state": {"x": 1}}, headers={"If-Match": "1"}))  # stale
    record(client.post(state, json={"state": {"x": 1}}))  # no If-Match
    record(client.post(state, json={"state": {"x": 1}}, headers={"If-Match": "three"}))
    record(
        client.post(
            state, json={"patches": [{"op": "bogus", "path": "a"}]}, headers={"If-Match": "3"}
        )
    )
    record(client.post(state, json={"state": {"x": 1}, "extra": 1}, headers={"If-Match": "3"}))
    record(client.post(state, json={"patches": "nope"}, headers={"If-Match": "3"}))
    as_json = {"Content-Type": "application/json", "If-Match": "3"}
    record(client.post(state, content=b"{not json", headers=as_json))
    record(client.post(state, content=b"", headers=as_json))
    record(
        client.post(
            state, content=b'{"state": {"big": "' + b"x" * 1_100_000 + b'"}}', headers=as_json
        )
    )
    # strictness (api/body.py): declared JSON only, bounded nesting, ASCII digits
    record(client.post(state, content=b'{"state": {"x": 1}}', headers={"If-Match": "3"}))
    record(
        client.post(
            state,
            content=b'{"state": {"x": 1}}',
            headers={"If-Match": "3", "Content-Type": "text/plain"},
        )
    )
    record(
        client.post(
            state,
            content=b'{"state": {"x": 1}}',
            headers={"If-Match": "3", "Content-Type": "application/merge-patch+json"},
        )
    )
    record(client.post(state, json={"state": {"x": 1}}, headers={"If-Match": b"\xb2"}))
    record(
        client.post(
            state,
            content=b'{"state": {"x": ' + b"[" * 10_000 + b"]" * 10_000 + b"}}",
            headers=as_json,
        )
    )
    record(
        client.post(
            state,
            json={"patches": [{"op": "set", "path": "/a" * 70, "value": 1}]},
            headers={"If-Match": "4"},
        )
    )
    record(client.post(f"{API}/intents/nope/state", json={"state": {}}, headers={"If-Match": "1"}))
    events = f"{API}/intents/{iid}/events"
    record(client.post(events, json={"event_type": "comment", "payload": {"n": 1}}))
    record(
        client.post(
            events,
            json={"event_type": "comment", "actor": "body-actor"},
            headers={"X-Agent-ID": ""},
        )
    )
    record(client.post(events, json={"event_type": "no_such_type"}))
    record(client.post(events, json={"event_type": "comment", "payload": []}))
    record(client.post(f"{API}/intents/nope/events", json={"event_type": "comment"}))
    leases = f"{API}/intents/{iid}/leases"
    lease = record(client.post(leases, json={"scope": "s", "duration_seconds": 30})).json()
    record(
        client.post(
            leases, json={"scope": "s", "duration_seconds": 30}, headers={"X-Agent-ID": "other"}
        )
    )
    record(client.post(leases, json={"scope": "", "duration_seconds": 30}))
    record(client.post(leases, json={"scope": "t", "duration_seconds": 10**9}))
    record(client.post(leases, json={"scope": "t", "duration_seconds": "30"}))
    record(client.post(leases, json={"scope": "t", "duration_seconds": 30.0}))
    record(client.post(leases, json={"scope": "t", "duration_seconds": 2**64}))
    record(
        client.post(leases, json={"scope": "t", "duration_seconds": 30}, headers={"X-Agent-ID": ""})
    )
    record(client.delete(f"{leases}/{lease['id']}", headers={"X-Agent-ID": "other"}))
    record(client.delete(f"{leases}/{lease['id']}"))
    record(client.delete(f"{leases}/{lease['id']}"))  # again: harmless
    record(client.delete(f"{leases}/no-such-lease"))
    record(client.get(f"{API}/intents/{iid}/events"))  # what all of it logged
    for params in (
        "limit=2",
        "limit=2&cursor=2",
        "event_type=comment&limit=1",
        "event_type=bogus",
        "since=2020-01-01T00:00:00Z",
        "since=yesterday",
        "limit=0",
        "limit=1001",
        "limit=1e3",
        "limit=%31",
        "limit=1&limit=2",
        "cursor=-1",
        "limit=",
        "unknown=1",
    ):
        record(client.get(f"{API}/intents/{iid}/events?{params}"))
    record(client.get(f"{API}/intents/nope/events?limit=5"))
    for params in (
        "",
        "limit=1",
        "limit=1&offset=1",
        "status=active",
        "status=bogus",
        "created_by=nobody",
        "q=lean",
        "q=le",
        "q=%22%2A",
        "q=le+an",
        "sort=updated_at&limit=1",
        "sort=sideways",
        "cursor=garbage",
        "cursor=garbage&offset=3",
        "limit=99999",
        "offset=-4",
    ):
        record(client.get(f"{API}/intents?{params}"))
    return seen


async def _plain(fn, store, app, scope, receive, send) -> None:
    await app(scope, receive, send)


@pytest.mark.slow
def test_lean_and_litestar_paths_answer_the_same(tmp_path, monkeypatch):
    used = []
    real_dispatch = backend.api.fast.dispatch

    async def spy(fn, *args) -> None:
        used.append(fn.__name__)
        await real_dispatch(fn, *args)

    monkeypatch.setattr(backend.api.fast, "dispatch", spy)
    with run_server(tmp_path / "lean.db") as server, server.client() as client:
        lean = script(client)
    assert {
        "lean_get_intent",
        "lean_patch_state",
        "lean_append_event",
        "lean_acquire_lease",
        "lean_release_lease",
        "lean_list_events",
        "lean_list_intents",
    } <= set(used)

    monkeypatch.setattr(backend.api.fast, "dispatch", _plain)
    with run_server(tmp_path / "plain.db") as server, server.client() as client:
        plain = script(client)
    assert len(lean) == len(plain)
    for fast_case, plain_case in zip(lean, plain, strict=True):
        assert fast_case == plain_case
    statuses = {status for _, status, _, _ in plain}
    assert statuses == {200, 201, 400, 401, 403, 404, 409, 413, 415}, statuses


def test_api_key_is_still_required_by_lean_endpoints(api, server):
    iid = api.post(f"{API}/intents", json={"title": "t"}).json()["id"]
    for headers in ({}, {"X-API-Key": API_KEY + "x"}):
        with httpx.Client(base_url=server.url, headers=headers) as anonymous:
            assert anonymous.get(f"{API}/intents/{iid}").status_code == 401
            assert (
                anonymous.post(
                    f"{API}/intents/{iid}/events", json={"event_type": "comment"}
                ).status_code
                == 401
            )
    assert len(api.get(f"{API}/intents/{iid}/events").json()["events"]) == 1  # nothing appended
