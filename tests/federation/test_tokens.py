"""Delegation tokens: the spec's U1/U2 vectors, chains verified link by link, and the SDK's
re-signed chains refused."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from openintent.federation.models import DelegationScope
from openintent.federation.security import UCANToken

from backend.domain.delegation import DelegationError, attenuate, widening
from backend.federation.tokens import (
    HEADER_B64,
    MAX_CHAIN,
    TokenInvalid,
    b64url,
    decode,
    delegate,
    encode,
    mint,
    verify_chain,
)

from .helpers import sdk_identity
from .vectors import DID, U1_P, U1_S, U2_P, U2_S, U2_SDK_PRF0_S, seed

NOW = 1767225700  # inside both vectors' windows
CHILD = {
    "permissions": ["state.patch", "events.log", "admin"],
    "denied_operations": ["events.delete"],
    "max_delegation_depth": 5,
}


def signer(name: str):
    return Ed25519PrivateKey.from_private_bytes(seed(name)).sign


def public(name: str):
    return Ed25519PrivateKey.from_private_bytes(seed(name)).public_key()


def u1() -> str:
    return encode(json.loads(U1_P), signer("A"))


def u2() -> str:
    return encode(json.loads(U2_P.replace("<U1>", u1())), signer("B"))


async def keys_of(did: str):
    for name, known in DID.items():
        if did == known:
            return [public(name)]
    return []


async def verify(token: str, audience: str = DID["C"], issuer: str = DID["B"], **kw):
    options = {"keys_of": keys_of, "skew_seconds": 300, "now": NOW, **kw}
    return await verify_chain(token, audiences={audience}, leaf_issuer=issuer, **options)


def test_u1_and_u2_reproduce_the_vectors():
    token = u1()
    header, payload, signature = token.split(".")
    assert header == HEADER_B64 == b64url(json.dumps({"alg": "EdDSA", "typ": "UCAN"}).encode())
    assert payload == b64url(U1_P.encode())
    assert signature == U1_S
    assert u2().split(".")[2] == U2_S


def test_our_delegation_of_u1_is_exactly_u2():
    ours = delegate(
        u1(),
        audience=DID["C"],
        child_scope=CHILD,
        sign=signer("B"),
        now=1767225660,
        nonce="EBESExQVFhcYGRobHB0eHw==",
    )
    assert ours == u2()


def test_the_sdk_reads_our_tokens():
    read = UCANToken.decode(u2())
    assert (read.issuer, read.audience) == (DID["B"], DID["C"])
    assert read.scope.permissions == ["events.log", "state.patch"]
    assert read.scope.max_delegation_depth == 1
    assert read.proof_chain == [u1()]
    minted = mint(issuer=DID["A"], audience=DID["B"], scope={}, sign=signer("A"))
    assert UCANToken.decode(minted).scope.permissions == ["state.patch", "events.log"]


async def test_u2_chain_verifies_and_yields_the_leaf_scope():
    scope = await verify(u2())
    assert scope == json.loads(U2_P)["scope"]
    assert await verify(u1(), audience=DID["B"], issuer=DID["A"])


async def test_sdk_attenuated_chain_is_refused():
    """`UCANToken.attenuate` re-signs the parent with the delegate's key (spec §5)."""
    sdk_u1 = UCANToken.decode(u1())
    resigned = sdk_u1.encode(sdk_identity("B", "https://server-b.example.com"))
    assert resigned.split(".")[2] == U2_SDK_PRF0_S  # the vector: A's payload, B's signature
    sdk_u2 = UCANToken(
        issuer=DID["B"],
        audience=DID["C"],
        scope=sdk_u1.scope.attenuate(DelegationScope.from_dict(CHILD)),
        not_before=1767225660,
        expires_at=sdk_u1.expires_at,
        proof_chain=[resigned],
    ).encode(sdk_identity("B", "https://server-b.example.com"))
    with pytest.raises(TokenInvalid, match="link 0: the signature does not verify"):
        await verify(sdk_u2)


async def test_expired_and_not_yet_valid_tokens_are_refused():
    with pytest.raises(TokenInvalid, match="expired"):
        await verify(u1(), audience=DID["B"], issuer=DID["A"], now=1767229200 + 301)
    assert await verify(u1(), audience=DID["B"], issuer=DID["A"], now=1767229200 + 299)
    with pytest.raises(TokenInvalid, match="not valid yet"):
        await verify(u1(), audience=DID["B"], issuer=DID["A"], now=1767225600 - 301)


def child_of(parent: str, scope: dict, *, by: str = "B", aud: str = DID["C"], **payload) -> str:
    parent_payload = decode(parent)
    body = {
        "iss": parent_payload["aud"],
        "aud": aud,
        "scope": scope,
        "nbf": 1767225660,
        "exp": parent_payload["exp"],
        "nonce": "bm9uY2U=",
        "prf": [*parent_payload["prf"], parent],
        **payload,
    }
    return encode(body, signer(by))


@pytest.mark.parametrize(
    ("scope", "reason"),
    [
        (
            {
                "permissions": ["state.patch", "admin"],
                "denied_operations": ["intent.delete"],
                "max_delegation_depth": 1,
            },
            "permissions widened",
        ),
        (
            {"permissions": ["state.patch"], "denied_operations": [], "max_delegation_depth": 1},
            "denied operations dropped",
        ),
        (
            {
                "permissions": ["state.patch"],
                "denied_operations": ["intent.delete"],
                "max_delegation_depth": 2,
            },
            "delegation depth exceeded",
        ),
    ],
)
async def test_a_widening_link_is_refused(scope, reason):
    with pytest.raises(TokenInvalid, match=reason):
        await verify(child_of(u1(), scope))


async def test_link_rules_issuer_expiry_proofs_audience_and_leaf_issuer():
    narrow = {
        "permissions": ["state.patch"],
        "denied_operations": ["intent.delete"],
        "max_delegation_depth": 0,
    }
    assert await verify(child_of(u1(), narrow))
    with pytest.raises(TokenInvalid, match="outlives its parent"):
        await verify(child_of(u1(), narrow, exp=1767229201))
    with pytest.raises(TokenInvalid, match="not its parent's audience"):
        await verify(child_of(u1(), narrow, by="C", iss=DID["C"]), issuer=DID["C"])
    with pytest.raises(TokenInvalid, match="proofs are not the links before it"):
        await verify(child_of(u1(), narrow, prf=[u1(), u1()]))
    with pytest.raises(TokenInvalid, match="not to this server"):
        await verify(u2(), audience="did:web:elsewhere.example")
    with pytest.raises(TokenInvalid, match="not issued by the verified source"):
        await verify(u2(), issuer=DID["A"])
    # Depth 0 cannot be delegated further.
    leaf = child_of(u1(), narrow)
    with pytest.raises(TokenInvalid, match="delegation depth exceeded"):
        await verify(
            child_of(leaf, narrow, by="C", aud=DID["A"]), audience=DID["A"], issuer=DID["C"]
        )
    with pytest.raises(DelegationError, match="Delegation depth exceeded"):
        delegate(leaf, audience=DID["A"], child_scope=narrow, sign=signer("C"))


async def test_malformed_tokens_are_refused():
    token = u1()
    header, payload, signature = token.split(".")
    for bad in [
        "",
        "a.b",
        f"{header}.{payload}",
        f"x{header}.{payload}.{signature}",
        f"{header}.{payload}.{signature[:-4]}AAAA",
        f"{header}.!!.{signature}",
        "x" * 20_000,
    ]:
        with pytest.raises(TokenInvalid):
            await verify(bad, audience=DID["B"], issuer=DID["A"])
    long_chain = mint(
        issuer=DID["A"], audience=DID["B"], scope={}, sign=signer("A"), proofs=[token] * MAX_CHAIN
    )
    with pytest.raises(TokenInvalid, match="longer than"):
        await verify(long_chain, audience=DID["B"], issuer=DID["A"])


def test_attenuation_rules():
    parent = json.loads(U1_P)["scope"]
    assert attenuate(parent, CHILD) == json.loads(U2_P)["scope"]
    with_expiry = {**parent, "expires_at": "2026-01-01T01:00:00+00:00"}
    child = {**CHILD, "expires_at": "2026-01-01T00:30:00+00:00"}
    assert attenuate(with_expiry, child)["expires_at"] == "2026-01-01T00:30:00+00:00"
    later = {**CHILD, "expires_at": "2026-01-02T00:00:00+00:00"}
    assert attenuate(with_expiry, later)["expires_at"] == "2026-01-01T01:00:00+00:00"
    assert widening(attenuate(parent, CHILD), parent, strict_depth=True) is None
    assert widening({**parent, "expires_at": None}, with_expiry, strict_depth=False)
    assert widening(later, {**CHILD, "expires_at": child["expires_at"]}, strict_depth=False)
