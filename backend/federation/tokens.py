"""Delegation tokens: the SDK's `UCANToken` format, verified link by link.

`H.P.S`, each base64url without padding. `H` is always `json.dumps({"alg": "EdDSA", "typ":
"UCAN"})`; `P` is `json.dumps(payload, sort_keys=True)` with the default separators; `S` is
Ed25519 over the ASCII `H.P`. The payload: `iss`, `aud` (DIDs), `scope`, `nbf`, `exp` (Unix
seconds), `nonce`, `prf` (the ancestors' tokens, root first).

Unlike the SDK, which re-signs the parent with the delegate's key when it attenuates (so no
chain verifies to its root), a child here carries its parent verbatim, and a chain is only
accepted when every link is signed by its issuer and only narrows what it was given.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ..domain.delegation import DelegationError, attenuate, normalize_scope, widening
from .identity import normalize_did
from .signing import verify_bytes

HEADER = {"alg": "EdDSA", "typ": "UCAN"}
HEADER_B64 = "eyJhbGciOiAiRWREU0EiLCAidHlwIjogIlVDQU4ifQ"
MAX_CHAIN = 8
MAX_TOKEN_BYTES = 16_384
DEFAULT_ROOT_SECONDS = 86_400


class TokenInvalid(Exception):
    """Why a token or chain is refused (the receive answer is 403 with this reason)."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def b64url_decode(text: str) -> bytes:
    if not text or any(c not in _B64URL for c in text):
        raise TokenInvalid("a segment is not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise TokenInvalid("a segment is not base64url") from None


_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def encode(payload: dict[str, Any], sign: Callable[[bytes], bytes]) -> str:
    body = b64url(json.dumps(payload, sort_keys=True).encode())
    signing_input = f"{HEADER_B64}.{body}"
    return f"{signing_input}.{b64url(sign(signing_input.encode('ascii')))}"


def mint(
    *,
    issuer: str,
    audience: str,
    scope: dict[str, Any],
    sign: Callable[[bytes], bytes],
    not_before: int | None = None,
    expires: int | None = None,
    nonce: str | None = None,
    proofs: list[str] | None = None,
) -> str:
    nbf = int(time.time()) if not_before is None else not_before
    payload = {
        "iss": issuer,
        "aud": audience,
        "scope": normalize_scope(scope),
        "nbf": nbf,
        "exp": nbf + DEFAULT_ROOT_SECONDS if expires is None else expires,
        "nonce": nonce or base64.b64encode(os.urandom(16)).decode("ascii"),
        "prf": list(proofs or []),
    }
    return encode(payload, sign)


def delegate(
    parent_token: str,
    *,
    audience: str,
    child_scope: dict[str, Any],
    sign: Callable[[bytes], bytes],
    expires: int | None = None,
    now: int | None = None,
    nonce: str | None = None,
) -> str:
    """A child of `parent_token` (which was addressed to the signer): the parent is carried
    verbatim, the scope attenuated (DelegationError "Delegation depth exceeded" below 0),
    `exp` = min(parent's, requested)."""
    parent = decode(parent_token)
    scope = attenuate(parent["scope"], child_scope)
    exp = parent["exp"] if expires is None else min(parent["exp"], expires)
    return mint(
        issuer=parent["aud"],
        audience=audience,
        scope=scope,
        sign=sign,
        not_before=int(time.time()) if now is None else now,
        expires=exp,
        nonce=nonce,
        proofs=[*parent["prf"], parent_token],
    )


def decode(token: str) -> dict[str, Any]:
    """The payload of a well-formed token (signature NOT checked: see verify_chain)."""
    return _parts(token)[2]


def _parts(token: Any) -> tuple[bytes, bytes, dict[str, Any]]:
    if not isinstance(token, str):
        raise TokenInvalid("not a string")
    if len(token) > MAX_TOKEN_BYTES:
        raise TokenInvalid(f"longer than {MAX_TOKEN_BYTES} bytes")
    segments = token.split(".")
    if len(segments) != 3:
        raise TokenInvalid("not three segments")
    header_b64, payload_b64, signature_b64 = segments
    if header_b64 != HEADER_B64:
        raise TokenInvalid("unexpected header")
    try:
        payload = json.loads(b64url_decode(payload_b64))
    except ValueError:
        raise TokenInvalid("the payload is not JSON") from None
    if not isinstance(payload, dict):
        raise TokenInvalid("the payload is not an object")
    for name, kind in (("iss", str), ("aud", str), ("nbf", int), ("exp", int), ("prf", list)):
        value = payload.get(name)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise TokenInvalid(f"{name} is missing or of the wrong type")
    try:
        payload["scope"] = normalize_scope(payload.get("scope"))
    except DelegationError as exc:
        raise TokenInvalid(f"scope: {exc}") from None
    signature = b64url_decode(signature_b64)
    return f"{header_b64}.{payload_b64}".encode("ascii"), signature, payload


KeyLookup = Callable[[str], Awaitable[list[Ed25519PublicKey]]]


async def verify_chain(
    token: str,
    *,
    keys_of: KeyLookup,
    audiences: set[str],
    leaf_issuer: str | None,
    skew_seconds: int,
    now: float | None = None,
) -> dict[str, Any]:
    """Verify `token` and its proofs; returns the leaf's scope. Raises TokenInvalid.

    Every link: issued by the key of its `iss`, within its time window (± skew), its `prf`
    exactly the links before it. Each child: issued by its parent's audience, expiring no
    later, with permissions a subset, denials a superset and depth at least one lower. The
    leaf is addressed to us (`audiences`, normalised DIDs) by `leaf_issuer`."""
    moment = time.time() if now is None else now
    _, _, leaf = _parts(token)
    chain = [*leaf["prf"], token]
    if len(chain) > MAX_CHAIN:
        raise TokenInvalid(f"the chain is longer than {MAX_CHAIN} tokens")
    parent: dict[str, Any] | None = None
    for index, link in enumerate(chain):
        signing_input, signature, payload = _parts(link)
        where = f"link {index}"
        if payload["prf"] != chain[:index]:
            raise TokenInvalid(f"{where}: its proofs are not the links before it")
        if not moment + skew_seconds >= payload["nbf"]:
            raise TokenInvalid(f"{where}: not valid yet")
        if moment - skew_seconds > payload["exp"]:
            raise TokenInvalid(f"{where}: expired")
        keys = await keys_of(payload["iss"])
        if not keys:
            raise TokenInvalid(f"{where}: no key known for issuer {payload['iss']}")
        if not verify_bytes(keys, signing_input, signature):
            raise TokenInvalid(f"{where}: the signature does not verify for {payload['iss']}")
        if parent is not None:
            if normalize_did(payload["iss"]) != normalize_did(parent["aud"]):
                raise TokenInvalid(
                    f"{where}: issued by {payload['iss']}, not its parent's audience"
                )
            if payload["exp"] > parent["exp"]:
                raise TokenInvalid(f"{where}: outlives its parent")
            reason = widening(payload["scope"], parent["scope"], strict_depth=True)
            if reason is not None:
                raise TokenInvalid(f"{where}: {reason}")
        parent = payload
    if normalize_did(leaf["aud"]) not in audiences:
        raise TokenInvalid(f"addressed to {leaf['aud']}, not to this server")
    if leaf_issuer is None or normalize_did(leaf["iss"]) != normalize_did(leaf_issuer):
        raise TokenInvalid("not issued by the verified source")
    return leaf["scope"]
