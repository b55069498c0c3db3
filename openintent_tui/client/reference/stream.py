"""How the reference server's SSE reads: frames without `id:`, some carrying the whole Intent
instead of an Event, and naive timestamps."""

from __future__ import annotations

from typing import Any

import msgspec

from backend.domain.clock import now_iso
from backend.wire.events import EVENT_TYPES, Event

from ..sse import SSEFrame
from . import adapters


def event_from_frame(frame: SSEFrame) -> Event | None:
    """The Event in one of its frames, or None for frames that carry none (pings, hello)."""
    if not frame.data:
        return None
    try:
        raw: Any = msgspec.json.decode(frame.data)
    except msgspec.DecodeError:
        return None
    if not isinstance(raw, dict):
        return None
    if "event_type" not in raw:
        raw = _synthesised(frame.event, raw)
        if raw is None:
            return None
    raw.setdefault("payload", {})
    raw.setdefault("actor", None)
    raw.setdefault("intent_id", None)
    raw.setdefault("created_at", now_iso())
    if frame.id and frame.id.isdigit():
        if not raw.get("global_sequence"):
            raw["global_sequence"] = int(frame.id)
    else:
        raw = adapters.adapt(raw, Event)
    try:
        return adapters.convert(raw, Event)
    except msgspec.ValidationError:
        return None


def _synthesised(frame_event: str, data: dict[str, Any]) -> dict[str, Any] | None:
    """Its `intent_created`, `state_patched` and `status_changed` frames carry the whole
    Intent, not an Event: wrap it so the console still learns that this intent changed (the
    payload is the intent)."""
    if frame_event not in EVENT_TYPES or not isinstance(data.get("id"), str):
        return None
    intent_id = data.get("intent_id") or data["id"]
    stamp = data.get("updated_at") or data.get("created_at")
    return {
        "id": _change_key(frame_event, intent_id, data.get("version", stamp)),
        "intent_id": intent_id,
        "event_type": frame_event,
        "payload": data,
        "created_at": stamp or now_iso(),
    }


def _change_key(event_type: str, intent_id: str, version: Any) -> str:
    return f"{event_type}:{intent_id}:{version}"


def change_key(event: Event) -> str | None:
    """The same change, whether it came as a synthesised intent frame or as its logged event
    (its `state_patched`/`status_changed` payloads carry the new version): after a reconnect,
    the backfill must not show again what arrived live under the other id."""
    if event.intent_id is None:
        return None
    if event.event_type == "intent_created":
        return _change_key("intent_created", event.intent_id, 1)
    version = event.payload.get("version")
    if event.event_type in ("state_patched", "status_changed") and isinstance(version, int):
        return _change_key(event.event_type, event.intent_id, version)
    return None
