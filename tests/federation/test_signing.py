"""Canonical bytes and Ed25519 signatures: the spec's vectors exactly, and the SDK both ways."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from openintent.federation.security import (
    ServerIdentity,
    sign_envelope,
    verify_envelope_signature,
)

from backend.federation.identity import KeyPair, public_key_from_multibase, public_key_multibase
from backend.federation.signing import (
    canonical_bytes,
    decode_signature,
    public_key_from_b64,
    sign_document,
    verify_document,
)

from .vectors import E2_C, KEYS, VECTORS, seed


def private(name: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(seed(name))


def public(name: str):
    return public_key_from_b64(KEYS[name][1])


@pytest.mark.parametrize("name", sorted(KEYS))
def test_key_vectors(name):
    pair = KeyPair(seed(name))
    assert pair.public_b64 == KEYS[name][1]
    assert pair.multibase == KEYS[name][2]
    assert public_key_from_multibase(KEYS[name][2]) == pair.raw_public
    assert public_key_multibase(pair.raw_public) == KEYS[name][2]


@pytest.mark.parametrize("vector", ["E1", "E2", "C1"])
def test_canonical_bytes_and_signature_reproduce_the_vector(vector):
    signer, c, sig = VECTORS[vector]
    document = json.loads(c)
    assert canonical_bytes(document).decode() == c
    # With a signature present it is left out of what is signed.
    assert canonical_bytes({**document, "signature": "whatever"}).decode() == c
    assert sign_document(private(signer), document) == sig
    assert verify_document([public(signer)], {**document, "signature": sig})


@pytest.mark.parametrize("vector", ["E1", "E2", "C1"])
def test_the_vector_fails_with_another_key_or_any_changed_field(vector):
    signer, c, sig = VECTORS[vector]
    document = {**json.loads(c), "signature": sig}
    other = "B" if signer == "A" else "A"
    assert not verify_document([public(other)], document)
    for key in [k for k in document if k != "signature"]:
        tampered = {**document, key: "tampered"}
        assert not verify_document([public(signer)], tampered), key
    assert not verify_document([public(signer)], {**document, "extra": 1})


def test_e2_changed_title_fails_and_raw_utf8_on_the_wire_parses_to_the_same_bytes():
    document = json.loads(E2_C)
    assert document["intent_title"] == "Análise Q1 — ✓ 🚀"
    wire = json.dumps({**document, "signature": VECTORS["E2"][2]}, ensure_ascii=False)
    assert "🚀" in wire  # raw UTF-8 on the wire, as the SDK's httpx client sends it
    received = json.loads(wire)
    assert verify_document([public("A")], received)
    received["intent_title"] = "Analise Q1 — ✓ 🚀"
    assert not verify_document([public("A")], received)


def test_floats_and_big_integers_keep_their_python_repr():
    document = {"n": 10**30, "f": 1e21, "g": 1e-7, "w": 2.0, "z": -0.0}
    expected = b'{"f":1e+21,"g":1e-07,"n":1' + b"0" * 30 + b',"w":2.0,"z":-0.0}'
    assert canonical_bytes(document) == expected


def test_key_set_verification_any_key_of_the_set():
    document = {"a": 1}
    document["signature"] = sign_document(private("B"), document)
    assert verify_document([public("A"), public("B")], document)
    assert not verify_document([public("A"), public("C")], document)
    assert not verify_document([], document)


@pytest.mark.parametrize(
    "signature",
    [None, 5, "", "not base64!", base64.b64encode(b"x" * 63).decode(), "é"],
)
def test_malformed_signatures_are_not_signatures(signature):
    assert decode_signature(signature) is None
    assert not verify_document([public("A")], {"a": 1, "signature": signature})


def test_sdk_verifies_ours_and_we_verify_the_sdks():
    identity = ServerIdentity.generate("https://sdk.example.com")
    document = {
        "dispatch_id": "d-1",
        "source_server": "https://sdk.example.com",
        "intent_title": "Zürich ✓",
        "intent_state": {"x": [1.5, None, {"ü": 1e-9}]},
    }
    sdk_signature = sign_envelope(identity, document)
    sdk_key = public_key_from_b64(identity.public_key_b64)
    assert verify_document([sdk_key], {**document, "signature": sdk_signature})

    ours = KeyPair(seed("C"))
    our_signature = sign_document(ours.private, document)
    assert verify_envelope_signature(ours.public_b64, document, our_signature)
    assert verify_envelope_signature(
        ours.public_b64, {**document, "signature": our_signature}, our_signature
    )
    assert not verify_envelope_signature(ours.public_b64, {**document, "x": 1}, our_signature)
