"""Decoding the reference server's shapes (as documented in shared/spec/wire.md) into our
wire Structs, and mapping its error answers to typed errors."""

from __future__ import annotations

import msgspec

from backend.wire.costs import CostList
from backend.wire.events import Event, EventPage
from backend.wire.intents import Intent, IntentList
from backend.wire.leases import LeaseList
from openintent_tui.client.errors import (
    ConflictError,
    NotFoundError,
    Unavailable,
    ValidationError,
    error_for,
)
from openintent_tui.client.reference.adapters import adapt, decode
from openintent_tui.client.reference.rebuilt import cost_summary
from openintent_tui.client.reference.stream import event_from_frame
from openintent_tui.client.sse import SSEParser

REF_INTENT = {
    "id": "i1",
    "title": "t",
    "description": "",
    "created_by": "k",
    "parent_id": "p0",
    "depends_on": [],
    "constraints": {},
    "state": {},
    "status": "draft",
    "confidence": 0.0,
    "version": 1,
    "governance_policy": None,
    "created_at": "2026-11-22T05:53:21.995640",
    "updated_at": "2026-11-22T05:53:21.995640",
}


def test_reference_intent_is_normalised():
    intent = decode(msgspec.json.encode(REF_INTENT), Intent)
    assert intent.parent_intent_id == "p0"
    assert intent.created_at == "2026-11-22T05:53:21.995640+00:00"
    assert intent.confidence == 0


def test_bare_lists_get_their_envelope():
    page = decode(msgspec.json.encode([REF_INTENT]), IntentList, key="intents", total=len)
    assert page.total == 1 and page.intents[0].id == "i1"
    lease = {
        "id": "l1",
        "intent_id": "i1",
        "agent_id": "a",
        "scope": "s",
        "status": "active",
        "acquired_at": "2026-11-22T05:53:21",
        "created_at": "2026-11-22T05:53:21",
        "expires_at": "2026-11-22T05:58:21",
        "released_at": None,
    }
    leases = decode(msgspec.json.encode([lease]), LeaseList, key="leases")
    assert leases.leases[0].expires_at.endswith("+00:00")


def test_bare_cost_list_gets_a_summary():
    costs = [
        {
            "id": "c1",
            "intent_id": "i1",
            "agent_id": "a",
            "cost_type": "llm",
            "amount": 3,
            "unit": "cents",
            "provider": None,
            "metadata": {},
            "recorded_at": "2026-11-22T05:53:21",
        }
    ]
    decoded = decode(msgspec.json.encode(costs), CostList, key="costs", summary=cost_summary)
    assert decoded.summary.total == 3 and decoded.summary.by_agent == {"a": 3}


def test_our_own_shapes_pass_untouched():
    event = {
        "id": "e",
        "intent_id": "i",
        "event_type": "comment",
        "actor": "a",
        "payload": {"parent_id": "kept as is"},
        "created_at": "2026-11-22T05:53:21+00:00",
        "global_sequence": 4,
    }
    page = decode(msgspec.json.encode({"events": [event]}), EventPage, key="events")
    assert page.events[0].payload == {"parent_id": "kept as is"}
    both = adapt({**REF_INTENT, "parent_intent_id": "b"}, Intent)
    assert both["parent_intent_id"] == "b" and "parent_id" not in both


def test_opaque_json_is_the_users_data_and_stays_as_written():
    state = {"parent_id": "mine", "due_at": "2026-01-01T10:00:00", "confidence": 0.5}
    intent = decode(msgspec.json.encode({**REF_INTENT, "state": state}), Intent)
    assert intent.state == state
    assert intent.created_at.endswith("+00:00")


def _frames(*lines: str):
    parser = SSEParser()
    return [f for f in map(parser.feed, lines) if f is not None]


def test_reference_sse_frames_decode():
    logged = {"id": "e1", "intent_id": "i", "event_type": "comment", "actor": "a"}
    logged["created_at"] = "2026-11-22T05:53:21"
    intent = {**REF_INTENT, "version": 2}
    frames = _frames(
        "event: comment",
        f"data: {msgspec.json.encode(logged).decode()}",
        "",
        ": ping",
        "",
        "event: state_patched",
        f"data: {msgspec.json.encode(intent).decode()}",
        "",
        "event: intent_added",
        "data: {}",
        "",
    )
    events = [event_from_frame(frame) for frame in frames]
    first, second, third = events
    assert isinstance(first, Event) and first.global_sequence == 0 and first.payload == {}
    assert first.created_at.endswith("+00:00")
    assert (second.event_type, second.intent_id, second.id) == (
        "state_patched",
        "i1",
        "state_patched:i1:2",
    )
    assert third is None  # not an event type the SDK knows, and no intent: ignored


def test_reference_error_answers():
    assert isinstance(error_for(405, {"detail": "Method Not Allowed"}, "GET /x"), Unavailable)
    assert isinstance(error_for(404, {"detail": "Not Found"}, "GET /x"), Unavailable)
    missing = error_for(404, {"detail": "Intent not found"}, "GET /x")
    assert isinstance(missing, NotFoundError) and missing.message == "Intent not found"
    conflict = error_for(409, {"detail": "Lease already held for this scope"}, "POST /x")
    assert isinstance(conflict, ConflictError) and conflict.existing_lease is None
    fastapi_422 = error_for(
        422, {"detail": [{"loc": ["body", "requested_by"], "msg": "Field required"}]}, "POST /x"
    )
    assert isinstance(fastapi_422, ValidationError)
    assert fastapi_422.message == "invalid input: Field required"
    assert fastapi_422.errors[0]["loc"] == ["body", "requested_by"]
