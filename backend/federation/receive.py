"""`POST /api/v1/federation/receive`, in the order of spec/federation.md ("Receive (ours)").

1. not enabled, or not an envelope -> 400
2. a `signature` is verified (any failure 401, even with an API key); unsigned needs a key
3. trust policy -> 403; delegation token -> 403
4. replay by (source, dispatch_id) / (source, idempotency_key): the stored answer, or 409
5. budget, expired scope, private agent -> 200 `accepted: false` (stored like an acceptance)
6. callback_url through the egress guard -> 400
7. the local intent, its agent, `federation.received` and the record: one transaction
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import msgspec

from ..domain.delegation import DelegationError, normalize_scope, widening
from ..domain.errors import DomainError, Forbidden, InvalidInput
from ..outbound.egress import EgressPolicy, EgressRefused
from ..store import Store
from ..store.federation import InboundDispatch
from ..wire.federation import Envelope
from .config import POLICY_STRICTNESS, FederationConfig
from .identity import did_from_url, normalize_did, normalize_url
from .resolver import KeyResolver
from .signing import canonical_bytes, decode_signature, verify_bytes
from .tokens import TokenInvalid, verify_chain

BUDGET_REJECTION = "Rejected: budget constraints too restrictive"
EXPIRED_REJECTION = "Rejected: delegation scope has expired"
PRIVATE_AGENT_REJECTION = "Rejected: the requested agent is not available to federated peers"
UNSIGNED_FIELDS = ("signature", "created_at")


class Unauthorized(DomainError):
    status_code = 401


class Verified(msgspec.Struct, frozen=True):
    verified: bool
    source_did: str | None
    keys: list = msgspec.field(default_factory=list)
    """The source's keys, when its signature verified."""


def parse_json_object(body: bytes, what: str) -> dict[str, Any]:
    """Parsed with stdlib json: exact big integers, and no NaN or Infinity (the signature is
    checked over the parsed object, canonicalised by stdlib json)."""

    def no_constants(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    try:
        raw = json.loads(body, parse_constant=no_constants)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"The body is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise InvalidInput(f"The {what} must be a JSON object")
    return raw


def parse_envelope(body: bytes) -> tuple[dict[str, Any], Envelope]:
    """The object as received (what the signature covers) and its validated reading."""
    raw = parse_json_object(body, "envelope")
    try:
        envelope = msgspec.convert(raw, Envelope)
    except msgspec.ValidationError as exc:
        raise InvalidInput(f"Invalid envelope: {exc}", errors=[{"message": str(exc)}]) from None
    return raw, envelope


def parse_time(value: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def content_sha256(raw: dict[str, Any]) -> str:
    """What must match for a repeat to be a replay: everything but the signature and the
    signing time (a sender re-signs every retry with a fresh `created_at`)."""
    unsigned = {k: v for k, v in raw.items() if k not in UNSIGNED_FIELDS}
    return hashlib.sha256(canonical_bytes(unsigned)).hexdigest()


def budget_too_restrictive(policy: dict[str, Any] | None) -> bool:
    budget = (policy or {}).get("budget")
    if not isinstance(budget, dict):
        return False
    for name in ("max_llm_tokens", "cost_ceiling_usd"):
        value = budget.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool) and value <= 0:
            return True
    return False


class Receiver:
    def __init__(
        self,
        config: FederationConfig,
        resolver: KeyResolver,
        egress: EgressPolicy,
        our_keys: list,
    ) -> None:
        self.our_keys = our_keys
        self.config = config
        self.resolver = resolver
        self.egress = egress

    async def receive(self, store: Store, body: bytes, key_accepted: bool) -> dict[str, Any]:
        raw, envelope = parse_envelope(body)
        if raw.get("signature") is not None:
            proof = await self.verify_signature(raw, envelope)
        elif key_accepted:
            proof = Verified(False, None)
        else:
            raise Unauthorized("Invalid or missing API key (or envelope signature)")
        policy = self.check_trust(envelope, proof)
        scope = await self.check_token(envelope, proof, policy)
        rejection = self.rejection(envelope)
        if rejection is None and envelope.callback_url:
            await self.check_callback(envelope, policy)
        dispatch = self.record(raw, envelope, proof, rejection, scope)
        return (await store.receive_dispatch(dispatch)).answer

    async def verify_signature(self, raw: dict[str, Any], envelope: Envelope) -> Verified:
        signature = decode_signature(raw.get("signature"))
        if signature is None:
            raise Unauthorized("Invalid signature: not base64 of a 64-byte Ed25519 signature")
        if envelope.created_at is None or envelope.target_server is None:
            raise Unauthorized(
                "Invalid signature: a signed envelope needs created_at and target_server"
            )
        if normalize_url(envelope.target_server) not in self.config.own_urls():
            raise Unauthorized(
                f"Invalid signature: the envelope is addressed to {envelope.target_server},"
                " not to this server"
            )
        signed_at = parse_time(envelope.created_at)
        if signed_at is None:
            raise Unauthorized("Invalid signature: created_at is not an ISO 8601 time with zone")
        skew = timedelta(seconds=self.config.max_skew_seconds)
        if abs(datetime.now(UTC) - signed_at) > skew:
            raise Unauthorized(
                f"Invalid signature: created_at is more than {self.config.max_skew_seconds} s"
                " from this server's clock"
            )
        message = canonical_bytes(raw)
        keys = await self.resolver.for_source(envelope.source_server)
        if keys is None:
            raise Unauthorized(f"Unknown signing key for {envelope.source_server}")
        if verify_bytes(keys.keys, message, signature):
            return Verified(True, keys.did, keys.keys)
        if keys.source == "fetched":  # the peer may have rotated its key: fetch once more
            keys = await self.resolver.for_source(envelope.source_server, refresh=True)
            if keys is not None and verify_bytes(keys.keys, message, signature):
                return Verified(True, keys.did, keys.keys)
        raise Unauthorized(
            f"Invalid signature: the envelope does not verify with the key of"
            f" {envelope.source_server}"
        )

    def check_trust(self, envelope: Envelope, proof: Verified) -> str:
        """Raises Forbidden, or returns the effective policy (the stricter of ours and the
        matching peer's)."""
        config = self.config
        peer = config.find_peer(url=envelope.source_server)
        if peer is None and proof.source_did:
            peer = config.find_peer(did=proof.source_did)
        policy = config.trust_policy
        if peer is not None and peer.trust_policy is not None:
            policy = max(policy, peer.trust_policy, key=POLICY_STRICTNESS.__getitem__)
        not_trusted = Forbidden(f"Source server {envelope.source_server} not trusted")
        if peer is not None and not peer.may_send_to_us:
            raise not_trusted
        if policy == "allowlist" and peer is None:
            raise not_trusted
        if policy == "trustless" and not proof.verified:
            raise not_trusted  # an API key alone proves nothing about the source
        return policy

    async def check_token(
        self, envelope: Envelope, proof: Verified, policy: str
    ) -> dict[str, Any] | None:
        """The delegation scope that binds the local intent: the envelope's, checked against
        its token chain when one is present (required under trustless)."""
        scope = None
        if envelope.delegation_scope is not None:
            try:
                scope = normalize_scope(msgspec.to_builtins(envelope.delegation_scope))
            except DelegationError as exc:
                raise InvalidInput(f"Invalid delegation_scope: {exc}") from None
        token = envelope.delegation_token
        if not token:
            if policy == "trustless":
                raise Forbidden("Invalid delegation token: trustless federation requires one")
            return scope
        source_did = proof.source_did or (
            None if proof.verified else did_from_url(envelope.source_server)
        )
        our_keys = self.our_keys

        async def keys_of(did: str):
            if normalize_did(did) == normalize_did(self.config.server_did):
                return our_keys
            if source_did and normalize_did(did) == normalize_did(source_did) and proof.keys:
                return proof.keys
            return await self.resolver.for_did(did)

        audiences = {normalize_did(self.config.server_did)} | {
            normalize_did(did_from_url(url)) for url in self.config.own_urls()
        }
        try:
            granted = await verify_chain(
                token,
                keys_of=keys_of,
                audiences=audiences,
                leaf_issuer=source_did,
                skew_seconds=self.config.max_skew_seconds,
            )
            if scope is None:
                return granted
            reason = widening(scope, granted, strict_depth=False)
        except (TokenInvalid, DelegationError) as exc:
            raise Forbidden(f"Invalid delegation token: {exc}") from None
        if reason is not None:
            raise Forbidden(f"Invalid delegation token: the envelope's scope exceeds it ({reason})")
        return scope

    def rejection(self, envelope: Envelope) -> str | None:
        if budget_too_restrictive(envelope.federation_policy):
            return BUDGET_REJECTION
        scope = envelope.delegation_scope
        if scope is not None and scope.expires_at is not None:
            expires = parse_time(scope.expires_at)
            if expires is None or expires <= datetime.now(UTC):
                return EXPIRED_REJECTION
        if envelope.agent_id:
            for agent in self.config.agents:
                if agent.agent_id == envelope.agent_id and agent.visibility == "private":
                    return PRIVATE_AGENT_REJECTION
        return None

    async def check_callback(self, envelope: Envelope, policy: str) -> None:
        url = envelope.callback_url
        if url is None:
            return
        try:
            await self.egress.check(url)
        except EgressRefused as exc:
            raise InvalidInput(
                f"Invalid callback_url: blocked by SSRF protection ({exc})",
                errors=[{"field": "callback_url", "message": str(exc)}],
            ) from None
        if policy == "trustless" and _origin(url) != _origin(envelope.source_server):
            raise InvalidInput(
                "Invalid callback_url: under trustless federation it must share"
                " source_server's origin",
                errors=[{"field": "callback_url"}],
            )

    def record(
        self,
        raw: dict[str, Any],
        envelope: Envelope,
        proof: Verified,
        rejection: str | None,
        scope: dict[str, Any] | None,
    ) -> InboundDispatch:
        policy = envelope.federation_policy
        governance = policy.get("governance") if isinstance(policy, dict) else None
        return InboundDispatch(
            source_key=normalize_url(envelope.source_server),
            dispatch_id=envelope.dispatch_id,
            idempotency_key=envelope.idempotency_key,
            source_server=envelope.source_server,
            source_did=proof.source_did,
            remote_intent_id=envelope.intent_id,
            agent_id=envelope.agent_id,
            content_sha256=content_sha256(raw),
            verified=proof.verified,
            envelope=raw,
            title=envelope.intent_title or f"Federated intent {envelope.intent_id}",
            description=envelope.intent_description,
            state=envelope.intent_state,
            constraints=_with_budget(envelope.intent_constraints, policy),
            governance_policy=governance if isinstance(governance, dict) else None,
            delegation_scope=scope,
            callback_url=envelope.callback_url,
            rejection=rejection,
            event_payload={
                "dispatch_id": envelope.dispatch_id,
                "source_server": envelope.source_server,
                "source_did": proof.source_did,
                "remote_intent_id": envelope.intent_id,
                "agent_id": envelope.agent_id,
                "delegation_scope": scope,
                "federation_policy": policy,
                "trace_context": envelope.trace_context,
                "verified": proof.verified,
            },
        )


def _with_budget(constraints: dict[str, Any], policy: dict[str, Any] | None) -> dict[str, Any]:
    """A policy's `cost_ceiling_usd` becomes the local intent's budget (RFC-0009, unit usd,
    alert at 80 %) unless the intent brought one: cost tracking then logs the alert, and the
    alert goes back to the origin as a `budget_warning` callback."""
    budget = (policy or {}).get("budget") if isinstance(policy, dict) else None
    ceiling = budget.get("cost_ceiling_usd") if isinstance(budget, dict) else None
    if "budget" in constraints or not isinstance(ceiling, int | float) or isinstance(ceiling, bool):
        return constraints
    if ceiling <= 0:
        return constraints
    return {
        **constraints,
        "budget": {"max_total": ceiling, "unit": "usd", "alert_threshold_percent": 80},
    }


def _origin(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None
    return f"{parts.scheme.lower()}://{(parts.hostname or '').lower()}:{port}"
