"""`POST /api/v1/federation/callback`: progress of our dispatches, reported by their targets.

Authenticated by the callback's signature, which must verify with the key of the server the
dispatch was sent to (a callback signed by anyone else is refused, 401), or, unsigned, by one
of our API keys (the SDK's `send_federation_callback`). Applied once per (dispatch_id,
idempotency_key): a repeat answers `duplicate: true` and changes nothing.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ..domain.errors import InvalidInput
from ..store import Store
from ..store.federation import CallbackIn
from ..wire.federation import Callback
from .receive import Unauthorized, parse_json_object
from .signing import canonical_bytes, decode_signature, verify_bytes


async def receive_callback(
    store: Store, federation, body: bytes, key_accepted: bool
) -> dict[str, Any]:
    raw = parse_json_object(body, "callback")
    try:
        callback = msgspec.convert(raw, Callback)
    except msgspec.ValidationError as exc:
        raise InvalidInput(f"Invalid callback: {exc}", errors=[{"message": str(exc)}]) from None
    if raw.get("signature") is None and not key_accepted:
        raise Unauthorized("Invalid or missing API key (or callback signature)")
    target = await store.outbound_target(callback.dispatch_id)  # 404 when not ours
    verified = False
    if raw.get("signature") is not None:
        signature = decode_signature(raw["signature"])
        if signature is None:
            raise Unauthorized("Invalid signature: not base64 of a 64-byte Ed25519 signature")
        message = canonical_bytes(raw)
        resolver = federation.resolver
        keys = await resolver.for_source(target.target_server)
        ok = keys is not None and verify_bytes(keys.keys, message, signature)
        if not ok and keys is not None and keys.source == "fetched":
            keys = await resolver.for_source(target.target_server, refresh=True)
            ok = keys is not None and verify_bytes(keys.keys, message, signature)
        if not ok:
            raise Unauthorized(
                f"Invalid signature: the callback is not signed by {target.target_server},"
                " the server this dispatch was sent to"
            )
        verified = True
    duplicate = await store.apply_callback(
        CallbackIn(
            dispatch_id=callback.dispatch_id,
            event_type=callback.event_type,
            state_delta=callback.state_delta,
            attestation=callback.attestation,
            trace_id=callback.trace_id,
            idempotency_key=callback.idempotency_key,
            verified=verified,
        )
    )
    return {
        "dispatch_id": callback.dispatch_id,
        "accepted": True,
        "duplicate": duplicate,
        "message": "Duplicate callback ignored" if duplicate else "Callback applied",
    }
