"""`POST /api/v1/federation/dispatch`: validate, build the envelope, record it durably.

The envelope copies the intent as it is now (title, description, state, constraints) and
carries the full delegation scope, the policy, trace context, callback URL and a delegation
token minted here. It is stored unsigned with its outbox row and the `federation.dispatched`
event in one transaction; the federation lane of the outbound worker signs it with a fresh
`created_at` for every try and POSTs it to `{target}/api/v1/federation/receive`.

A dispatch of an intent that itself came from another server is a re-delegation: its scope
is the received one attenuated (depth 0 cannot go further: 403), its policy the strictest
composition, its trace context inherited and its token a child of the received token.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import msgspec

from ..domain.delegation import (
    DelegationError,
    attenuate,
    compose_strictest,
    normalize_scope,
)
from ..domain.errors import Forbidden, InvalidInput
from ..outbound.egress import EgressRefused
from ..store import Store
from ..store.federation import DispatchView, OutboundDispatch
from ..wire.federation import DispatchRequest
from .identity import did_from_url
from .receive import parse_time
from .tokens import DEFAULT_ROOT_SECONDS, TokenInvalid, delegate, mint

RECEIVE_PATH = "/api/v1/federation/receive"
CALLBACK_PATH = "/api/v1/federation/callback"


async def create_dispatch(store: Store, federation, data: DispatchRequest) -> DispatchView:
    config = federation.config
    intent = await store.get_intent(data.intent_id)  # 404 for an unknown intent
    target = data.target_server.strip().rstrip("/")
    try:
        await federation.egress.check(target)
    except EgressRefused as exc:
        raise InvalidInput(
            "Invalid target server URL: blocked by SSRF protection",
            errors=[{"field": "target_server", "message": str(exc)}],
        ) from None
    peer = config.find_peer(url=target)
    if peer is not None and not peer.may_receive_from_us:
        raise Forbidden(f"Peer {target} is upstream only: it does not take dispatches from us")
    callback_url = data.callback_url or f"{config.server_url}{CALLBACK_PATH}"
    try:
        await federation.egress.check(callback_url)
    except EgressRefused as exc:
        raise InvalidInput(
            "Invalid callback_url: blocked by SSRF protection",
            errors=[{"field": "callback_url", "message": str(exc)}],
        ) from None
    target_did = (peer.did if peer is not None and peer.did else None) or did_from_url(target)
    requested_scope = (
        None if data.delegation_scope is None else msgspec.to_builtins(data.delegation_scope)
    )
    inbound = await store.inbound_for_intent(intent.id)
    sign = federation.identity.sign_bytes
    try:
        if inbound is None:
            scope = normalize_scope(requested_scope)
            policy = compose_strictest(None, data.federation_policy)
            trace = data.trace_context
            expires = _epoch(scope.get("expires_at")) or int(time.time()) + DEFAULT_ROOT_SECONDS
            token = mint(
                issuer=federation.did, audience=target_did, scope=scope, sign=sign, expires=expires
            )
        else:
            received = inbound["envelope"]
            scope = attenuate(
                normalize_scope(inbound["scope"]), requested_scope or inbound["scope"] or {}
            )
            policy = compose_strictest(received.get("federation_policy"), data.federation_policy)
            trace = {**(received.get("trace_context") or {}), **(data.trace_context or {})}
            parent = received.get("delegation_token")
            scope_expiry = _epoch(scope.get("expires_at"))
            if parent:
                token = delegate(
                    parent, audience=target_did, child_scope=scope, sign=sign, expires=scope_expiry
                )
            else:
                token = mint(
                    issuer=federation.did,
                    audience=target_did,
                    scope=scope,
                    sign=sign,
                    expires=scope_expiry or int(time.time()) + DEFAULT_ROOT_SECONDS,
                )
    except (DelegationError, TokenInvalid) as exc:
        raise Forbidden(str(exc)) from None
    dispatch_id = str(uuid.uuid4())
    envelope: dict[str, Any] = {
        "dispatch_id": dispatch_id,
        "source_server": config.server_url,
        "target_server": target,
        "intent_id": intent.id,
        "intent_title": intent.title,
        "intent_description": intent.description or "",
        "intent_state": intent.state,
        "intent_constraints": intent.constraints,
        "delegation_scope": scope,
        "callback_url": callback_url,
        "idempotency_key": dispatch_id,
        "delegation_token": token,
    }
    if data.agent_id:
        envelope["agent_id"] = data.agent_id
    if policy:
        envelope["federation_policy"] = policy
    if trace:
        envelope["trace_context"] = trace
    return await store.create_dispatch(
        OutboundDispatch(
            dispatch_id=dispatch_id,
            intent_id=intent.id,
            target_server=target,
            target_did=target_did,
            agent_id=data.agent_id,
            complete_on_callback=data.complete_on_callback,
            envelope=envelope,
            receive_url=target + RECEIVE_PATH,
            event_payload={
                "dispatch_id": dispatch_id,
                "target_server": target,
                "agent_id": data.agent_id,
                "delegation_scope": scope,
            },
        )
    )


def _epoch(value: Any) -> int | None:
    moment = parse_time(value) if isinstance(value, str) else None
    return None if moment is None else int(moment.timestamp())
