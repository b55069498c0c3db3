"""Webhook subscriptions (RFC-0006): shapes, signed delivery, retries, restart, failure."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import httpx
import pytest

from tests.backend.webhook_receiver import Receiver, free_port, serving, wait_until
from tests.support import LiveServer, run_server

FAST_RETRIES = {
    "webhook_retry_base_seconds": 0.05,
    "webhook_retry_max_seconds": 0.2,
    "webhook_max_attempts": 1000,
}


def new_intent(api: httpx.Client) -> str:
    response = api.post("/api/v1/intents", json={"title": "hooked"})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def comment(api: httpx.Client, intent_id: str, n: int = 0) -> dict:
    response = api.post(
        f"/api/v1/intents/{intent_id}/events", json={"event_type": "comment", "payload": {"n": n}}
    )
    assert response.status_code == 201, response.text
    return response.json()


def subscribe(api: httpx.Client, **body) -> dict:
    response = api.post("/api/v1/subscriptions", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def deliveries(api: httpx.Client, subscription_id: str) -> list[dict]:
    response = api.get(f"/api/v1/subscriptions/{subscription_id}/deliveries", params={"limit": 500})
    assert response.status_code == 200, response.text
    return response.json()["deliveries"]


def expected_signature(secret: str, headers: dict[str, str], body: bytes) -> str:
    """Standard Webhooks, computed here from the spec rather than with the server's code."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def test_create_list_get_delete_in_the_sdk_shapes(server: LiveServer, api):
    intent_id = new_intent(api)
    created = subscribe(
        api,
        intent_id=intent_id,
        event_types=["comment", "status_changed"],
        webhook_url="http://127.0.0.1:9/hook",
        expires_at="2999-01-01T00:00:00",
    )
    assert created["secret"].startswith("whsec_")
    assert created["scope"] == "intent"
    assert created["subscriber_id"] == "tester"  # from X-Agent-ID when the body has none
    assert created["active"] is True
    assert created["expiresAt"] == created["expires_at"] == "2999-01-01T00:00:00+00:00"
    assert created["createdAt"] == created["created_at"]
    listed = api.get("/api/v1/subscriptions", params={"intent_id": intent_id}).json()
    assert [s["id"] for s in listed["subscriptions"]] == [created["id"]]
    assert "secret" not in listed["subscriptions"][0]  # shown once, at creation
    one = api.get(f"/api/v1/subscriptions/{created['id']}").json()
    assert one["event_types"] == ["comment", "status_changed"] and "secret" not in one
    assert api.get("/api/v1/subscriptions", params={"intent_id": "other"}).json() == {
        "subscriptions": [],
        "next_offset": None,
        "next_cursor": None,  # issue 16: keyset paging beside the offset
    }
    assert api.delete(f"/api/v1/subscriptions/{created['id']}").status_code == 204
    assert api.get(f"/api/v1/subscriptions/{created['id']}").status_code == 404
    assert api.delete(f"/api/v1/subscriptions/{created['id']}").status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"event_types": ["no_such_type"]}, 400, "event_types"),
        ({"intent_id": "x", "portfolio_id": "y"}, 400, "portfolio_id"),
        ({"expires_at": "2001-01-01T00:00:00Z"}, 400, "expires_at"),
        ({"expires_at": "soon"}, 400, "expires_at"),
        ({"webhook_url": "ftp://127.0.0.1/x"}, 400, "webhook_url"),
        ({"webhook_url": "not a url"}, 400, "webhook_url"),
        ({"colour": "blue"}, 400, None),
        ({"intent_id": "no-such-intent"}, 404, None),
        ({"portfolio_id": "no-such-portfolio"}, 404, None),
    ],
)
def test_bad_subscriptions_are_refused_and_change_nothing(server, api, body, status, field):
    response = api.post("/api/v1/subscriptions", json=body)
    assert response.status_code == status, response.text
    assert response.json()["message"]
    if field:
        assert response.json()["errors"][0]["field"] == field
    assert api.get("/api/v1/subscriptions").json() == {
        "subscriptions": [],
        "next_offset": None,
        "next_cursor": None,
    }


def test_signed_delivery_verifies(tmp_path):
    receiver = Receiver(free_port())
    with serving(receiver), run_server(tmp_path / "oi.db") as live, live.client() as api:
        intent_id, other = new_intent(api), new_intent(api)
        sub = subscribe(api, intent_id=intent_id, event_types=["comment"], webhook_url=receiver.url)
        api.post(f"/api/v1/intents/{intent_id}/status", json={"status": "blocked"})  # filtered
        comment(api, other)  # another intent
        event = comment(api, intent_id, 7)
        wait_until(lambda: receiver.requests, "the delivery")
        done = wait_until(
            lambda: [d for d in deliveries(api, sub["id"]) if d["status"] == "delivered"],
            "the delivery to be recorded",
        )
    (got,) = receiver.requests
    assert got.path == "/hook"
    assert got.headers["content-type"] == "application/json"
    assert got.headers["webhook-signature"] == expected_signature(
        sub["secret"], got.headers, got.body
    )
    assert abs(int(got.headers["webhook-timestamp"]) - time.time()) < 300
    payload = json.loads(got.body)
    assert set(payload) == {"subscription_id", "event"}
    assert payload["subscription_id"] == sub["id"]
    assert payload["event"]["id"] == event["id"]
    assert payload["event"]["intent_id"] == intent_id
    assert done[0]["id"] == got.headers["webhook-id"]
    assert done[0]["global_sequence"] == event["global_sequence"]
    assert done[0]["attempts"] == 1
    assert done[0]["attempt_log"][0]["status_code"] == 204


def test_global_subscription_and_tampering_is_detectable(tmp_path):
    receiver = Receiver(free_port(), status=200)
    with serving(receiver), run_server(tmp_path / "oi.db") as live, live.client() as api:
        sub = subscribe(api, webhook_url=receiver.url)  # global, every type
        intent_id = new_intent(api)
        comment(api, intent_id)
        wait_until(lambda: len(receiver.requests) >= 2, "two deliveries")
    kinds = [json.loads(r.body)["event"]["event_type"] for r in receiver.requests]
    assert sorted(kinds) == ["comment", "intent_created"]
    got = receiver.requests[0]
    tampered = got.body.replace(b'"actor"', b'"Actor"')
    assert got.headers["webhook-signature"] != expected_signature(
        sub["secret"], got.headers, tampered
    )


def test_receiver_down_then_back_gets_it_after_retries(tmp_path):
    receiver = Receiver(free_port())
    with run_server(tmp_path / "oi.db", **FAST_RETRIES) as live, live.client() as api:
        intent_id = new_intent(api)
        sub = subscribe(api, intent_id=intent_id, webhook_url=receiver.url)
        comment(api, intent_id)
        wait_until(
            lambda: deliveries(api, sub["id"])[0]["attempts"] >= 3, "failed attempts to pile up"
        )
        with serving(receiver):
            wait_until(lambda: deliveries(api, sub["id"])[0]["status"] == "delivered", "the retry")
            (delivery,) = deliveries(api, sub["id"])
    assert len(receiver.requests) == 1
    log = delivery["attempt_log"]
    assert len(log) == delivery["attempts"] >= 4
    assert all(a["status_code"] is None and a["error"] for a in log[:-1])  # connection refused
    assert log[-1]["status_code"] == 204 and log[-1]["error"] is None
    assert receiver.requests[0].headers["webhook-id"] == delivery["id"]  # same id on retries


def test_gives_up_after_the_attempt_limit_and_does_not_follow_redirects(tmp_path):
    failing, redirecting = (
        Receiver(free_port(), status=500, body=b"boom"),
        Receiver(free_port(), status=302),
    )
    settings = {**FAST_RETRIES, "webhook_max_attempts": 3}
    with (
        serving(failing),
        serving(redirecting),
        run_server(tmp_path / "oi.db", **settings) as live,
        live.client() as api,
    ):
        intent_id = new_intent(api)
        broken = subscribe(api, intent_id=intent_id, webhook_url=failing.url)
        moved = subscribe(api, intent_id=intent_id, webhook_url=redirecting.url)
        comment(api, intent_id)
        for sub in (broken, moved):
            wait_until(lambda s=sub: deliveries(api, s["id"])[0]["status"] == "failed", "give up")
        (gave_up,) = deliveries(api, broken["id"])
        (redirected,) = deliveries(api, moved["id"])
    assert gave_up["attempts"] == 3 and len(failing.requests) == 3
    assert [a["status_code"] for a in gave_up["attempt_log"]] == [500, 500, 500]
    assert gave_up["last_error"] == "HTTP 500: boom"
    assert redirected["attempt_log"][0]["status_code"] == 302
    assert all(r.path == "/hook" for r in redirecting.requests)  # never went to /elsewhere


def test_pending_deliveries_are_sent_after_a_restart(tmp_path):
    db = tmp_path / "oi.db"
    receiver = Receiver(free_port())
    with run_server(db, **FAST_RETRIES) as live, live.client() as api:
        intent_id = new_intent(api)
        sub = subscribe(api, intent_id=intent_id, webhook_url=receiver.url)
        events = [comment(api, intent_id, n) for n in range(3)]
        wait_until(lambda: all(d["attempts"] for d in deliveries(api, sub["id"])), "attempts")
    with serving(receiver), run_server(db, **FAST_RETRIES) as live, live.client() as api:
        wait_until(
            lambda: all(d["status"] == "delivered" for d in deliveries(api, sub["id"])),
            "delivery after restart",
        )
    delivered = sorted(json.loads(r.body)["event"]["global_sequence"] for r in receiver.requests)
    assert delivered == [e["global_sequence"] for e in events]


def test_a_backlog_is_sent_once_per_delivery(tmp_path):
    """Attempts finishing while the worker reads the outbox must not be started again.

    A backlog of 120 deliveries at 16 in flight keeps finishing attempts overlapping the
    worker's outbox reads; each delivery id must reach the receiver exactly once. (It
    failed about once in eight loaded runs until the worker's sleep stopped losing the
    shutdown's cancellation: the first server's worker kept sending; tests/backend/test_waiting.py.)
    """
    db = tmp_path / "oi.db"
    receiver = Receiver(free_port())
    with run_server(db, **FAST_RETRIES) as live, live.client() as api:
        intent_id = new_intent(api)
        sub = subscribe(api, intent_id=intent_id, webhook_url=receiver.url)
        for n in range(120):
            comment(api, intent_id, n)
    with serving(receiver), run_server(db, **FAST_RETRIES) as live, live.client() as api:
        wait_until(
            lambda: all(d["status"] == "delivered" for d in deliveries(api, sub["id"])),
            "the backlog to be delivered",
        )
        recorded = deliveries(api, sub["id"])
    sent = [r.headers["webhook-id"] for r in receiver.requests]
    assert len(recorded) == 120
    assert sorted(sent) == sorted(d["id"] for d in recorded)  # each once, none twice


def test_deleting_a_subscription_stops_its_deliveries(tmp_path):
    receiver = Receiver(free_port())
    with serving(receiver), run_server(tmp_path / "oi.db") as live, live.client() as api:
        intent_id = new_intent(api)
        sub = subscribe(api, intent_id=intent_id, webhook_url=receiver.url)
        keep = subscribe(api, intent_id=intent_id, webhook_url=receiver.url)
        assert api.delete(f"/api/v1/subscriptions/{sub['id']}").status_code == 204
        comment(api, intent_id)
        wait_until(lambda: receiver.requests, "the remaining subscription's delivery")
        # The receiver answers before the worker records the attempt: wait for the record.
        wait_until(lambda: deliveries(api, keep["id"])[0]["status"] == "delivered", "the record")
    assert [json.loads(r.body)["subscription_id"] for r in receiver.requests] == [keep["id"]]


def test_a_subscription_without_webhook_url_is_recorded_but_sends_nothing(server, api):
    intent_id = new_intent(api)
    sub = subscribe(api, intent_id=intent_id)
    comment(api, intent_id)
    assert sub["webhook_url"] is None
    assert deliveries(api, sub["id"]) == []
