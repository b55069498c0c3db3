"""The request-hardening rules on the federation routes of a server with federation enabled:
JSON bodies only (415), the nesting limit, strict decoding (no "1" or 1.0 for an integer),
field caps, page caps and `next_offset` on the dispatch list. Every refusal is a 4xx with the
error shape and changes nothing (no intent created, nothing received)."""

from __future__ import annotations

import json

import pytest

from tests.support import run_server

from .helpers import envelope, write_config

API = "/api/v1"
SOURCE = "http://source-a.example"
DEEP = b"[" * 10_000 + b"]" * 10_000


@pytest.fixture
def live(tmp_path, databases):
    config = write_config(tmp_path / "b.yaml", "federation:\n  trust_policy: open\n")
    with run_server(databases("b"), federation_enabled=True, federation_config=config) as b:
        yield b


def refused(response, status: int) -> dict:
    assert response.status_code == status, (response.request.url, response.text[:300])
    body = response.json()
    assert set(body) >= {"detail", "message"}, body
    return body


def received(api) -> int:
    return api.get(f"{API}/federation/status").json()["total_received"]


def test_federation_bodies_must_be_declared_json_and_shallow(live):
    body = json.dumps(envelope(SOURCE, live.url)).encode()
    with live.client() as api:
        for path in ("/federation/receive", "/federation/callback", "/federation/dispatch"):
            for content_type in (None, "text/plain", "application/x-www-form-urlencoded"):
                headers = {} if content_type is None else {"Content-Type": content_type}
                refused(api.post(f"{API}{path}", content=body, headers=headers), 415)
            json_ct = {"Content-Type": "application/json"}
            refused(api.post(f"{API}{path}", content=DEEP, headers=json_ct), 400)
            nested = body[:-1] + b', "intent_state": {"deep": ' + DEEP + b"}}"
            refused(api.post(f"{API}{path}", content=nested, headers=json_ct), 400)
        assert received(api) == 0
        # declared JSON (with parameters) and within the limits: received
        ok = api.post(
            f"{API}/federation/receive",
            content=body,
            headers={"Content-Type": "application/json; charset=utf-8"},
        )
        assert ok.status_code == 200 and ok.json()["accepted"], ok.text
        assert received(api) == 1


def test_federation_bodies_decode_strictly_and_are_capped(live):
    def scoped(depth) -> dict:
        scope = {"permissions": ["state.patch"], "max_delegation_depth": depth}
        return envelope(SOURCE, live.url, delegation_scope=scope)

    with live.client() as api:
        receive = f"{API}/federation/receive"
        for bad in (
            scoped("1"),  # no string for an integer
            scoped(1.0),  # no float for an integer
            scoped(2**63),  # beyond 64 bits
            scoped(-1),
            envelope(SOURCE, live.url, intent_title="t" * 1_001),
            envelope(SOURCE, live.url, dispatch_id="d" * 201),
            envelope(SOURCE, live.url, source_server="https://" + "s" * 2_048),
            envelope(SOURCE, live.url, callback_url="https://" + "c" * 2_048),
            envelope(SOURCE, live.url, agent_id="a" * 201),
            envelope(SOURCE, live.url, signature="s" * 201),
            envelope(SOURCE, live.url, trace_context={"trace_id": 7}),
        ):
            refused(api.post(receive, json=bad), 400)
        callback = {"dispatch_id": "d" * 201, "event_type": "completed"}
        refused(api.post(f"{API}/federation/callback", json=callback), 400)
        too_long = {"intent_id": "i", "target_server": "https://" + "t" * 2_048}
        refused(api.post(f"{API}/federation/dispatch", json=too_long), 400)
        as_string = {"intent_id": "i", "target_server": "https://t", "complete_on_callback": "1"}
        refused(api.post(f"{API}/federation/dispatch", json=as_string), 400)
        assert received(api) == 0
        assert api.get(f"{API}/intents").json()["intents"] == []


def test_the_dispatch_list_is_paged_with_caps(live):
    with live.client() as api:
        ids = []
        for _ in range(3):
            body = envelope(SOURCE, live.url)
            assert api.post(f"{API}/federation/receive", json=body).status_code == 200
            ids.append(body["dispatch_id"])
        dispatches = f"{API}/federation/dispatches"
        for limit in ("1001", "0", "1e3", "5.0", "٣"):
            refused(api.get(dispatches, params={"direction": "in", "limit": limit}), 400)
        refused(api.get(dispatches, params={"offset": "-1"}), 400)
        seen = []
        offset = 0
        while offset is not None:
            page = api.get(dispatches, params={"direction": "in", "limit": 2, "offset": offset})
            assert page.status_code == 200, page.text
            assert page.json()["total"] == 3
            seen += [d["dispatch_id"] for d in page.json()["dispatches"]]
            offset = page.json()["next_offset"]
        assert sorted(seen) == sorted(ids)
