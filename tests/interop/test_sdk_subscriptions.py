"""The official SDK's RFC-0006 subscription methods, sync and async, against our server,
with a real receiver on loopback getting the signed webhook deliveries."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest
from openintent import EventType, OpenIntentClient, ValidationError

from tests.backend.webhook_receiver import Receiver, free_port, serving, wait_until
from tests.interop.test_sdk_core import AGENT, new_intent, sdk  # noqa: F401 (fixture)


def subscribe(sdk, webhook_url: str, event_types: list[str], intent_id=None):  # noqa: F811
    """The sync client takes `expires_at`; the async one `expires_in_hours` (naive local)."""
    if isinstance(sdk, OpenIntentClient):
        expires = datetime.now(UTC) + timedelta(hours=2)
        return sdk.subscribe(
            intent_id=intent_id,
            event_types=event_types,
            webhook_url=webhook_url,
            expires_at=expires,
        )
    return sdk.subscribe(webhook_url, event_types, intent_id=intent_id, expires_in_hours=2)


def test_subscribe_list_unsubscribe_and_receive(sdk, api):  # noqa: F811
    receiver = Receiver(free_port())
    with serving(receiver):
        intent = new_intent(sdk)
        sub = subscribe(sdk, receiver.url, ["comment"], intent_id=intent.id)
        assert sub.id and sub.intent_id == intent.id and sub.portfolio_id is None
        assert sub.subscriber_id == AGENT
        assert sub.event_types == ["comment"] and sub.webhook_url == receiver.url
        assert sub.active is True
        assert sub.expires_at is not None and sub.created_at is not None
        assert timedelta(hours=1) < sub.expires_at - sub.created_at <= timedelta(hours=2)

        listed = sdk.get_subscriptions(intent_id=intent.id)
        assert [s.id for s in listed] == [sub.id]
        assert sdk.get_subscriptions(intent_id="someone-else") == []

        logged = sdk.log_event(intent.id, EventType.COMMENT, {"hello": "hook"})
        wait_until(lambda: receiver.requests, "the webhook")
        sdk.unsubscribe(sub.id)
        assert sdk.get_subscriptions(intent_id=intent.id) == []

    (got,) = receiver.requests
    body = json.loads(got.body)
    assert body["subscription_id"] == sub.id and body["event"]["id"] == logged.id
    assert got.headers["webhook-signature"].startswith("v1,")  # verified in the next test
    deliveries = api.get(f"/api/v1/subscriptions/{sub.id}/deliveries")
    assert deliveries.status_code == 404  # unsubscribed: gone with its outbox


def test_secret_from_the_raw_response_verifies(sdk, api):  # noqa: F811
    """SDK users read `secret` from the creation response body; it verifies deliveries."""
    receiver = Receiver(free_port())
    with serving(receiver):
        intent = new_intent(sdk)
        created = api.post(
            "/api/v1/subscriptions",
            json={"intent_id": intent.id, "webhook_url": receiver.url, "event_types": []},
        ).json()
        sdk.log_event(intent.id, EventType.COMMENT, {})
        wait_until(lambda: receiver.requests, "the webhook")
    got = receiver.requests[0]
    key = base64.b64decode(created["secret"].removeprefix("whsec_"))
    signed = f"{got.headers['webhook-id']}.{got.headers['webhook-timestamp']}.".encode() + got.body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert got.headers["webhook-signature"] == f"v1,{expected}"


def test_unknown_event_type_is_a_validation_error(sdk):  # noqa: F811
    with pytest.raises(ValidationError) as raised:
        subscribe(sdk, "http://127.0.0.1:9/hook", ["not_a_type"])
    assert raised.value.errors and raised.value.errors[0]["field"] == "event_types"
    assert sdk.get_subscriptions() == []
