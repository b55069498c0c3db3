"""Property tests for the canonical signing of federation documents (RFC-0023): for any JSON
document, what we sign the official SDK verifies and the other way round; the signature
survives a trip over the wire in any key order and encoding, and any change to a signed
field breaks it."""

from __future__ import annotations

import base64
import json

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st
from openintent.federation.security import (
    ServerIdentity,
    sign_envelope,
    verify_envelope_signature,
)

from backend.federation.signing import public_key_from_b64, sign_document, verify_document

# JSON as it travels: text of every plane (escaped on the signed form), exact integers of
# any size, finite floats.
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=16,
)
documents = st.dictionaries(
    st.text(max_size=10).filter(lambda key: key != "signature"), values, min_size=1, max_size=6
)

OURS = Ed25519PrivateKey.generate()
OUR_PUBLIC = OURS.public_key()
OUR_PUBLIC_B64 = base64.b64encode(OUR_PUBLIC.public_bytes_raw()).decode()
SDK = ServerIdentity.generate("https://sdk.example.com")
SDK_PUBLIC = public_key_from_b64(SDK.public_key_b64)


def sdk_sees(document: dict) -> dict:
    """What a receiver parses: the document sent as JSON with raw UTF-8 text."""
    return json.loads(json.dumps(document, ensure_ascii=False).encode())


@settings(max_examples=200, deadline=None)
@given(documents)
def test_the_sdk_verifies_what_we_sign(document):
    signature = sign_document(OURS, document)
    received = sdk_sees({**document, "signature": signature})
    assert verify_envelope_signature(OUR_PUBLIC_B64, received, signature)


@settings(max_examples=200, deadline=None)
@given(documents)
def test_we_verify_what_the_sdk_signs(document):
    signed = {**document, "signature": sign_envelope(SDK, document)}
    assert verify_document([SDK_PUBLIC], sdk_sees(signed))


@settings(max_examples=200, deadline=None)
@given(documents, st.randoms(use_true_random=False))
def test_key_order_and_encoding_do_not_matter(document, rnd):
    signed = {**document, "signature": sign_document(OURS, document)}
    items = list(sdk_sees(signed).items())
    rnd.shuffle(items)
    reordered = json.loads(json.dumps(dict(items), ensure_ascii=True))
    assert verify_document([OUR_PUBLIC], reordered)


def canonical(value) -> str:
    return json.dumps(value, sort_keys=True)


@settings(max_examples=200, deadline=None)
@given(documents, st.data())
def test_any_change_to_a_signed_field_breaks_the_signature(document, data):
    signed = {**document, "signature": sign_document(OURS, document)}
    key = data.draw(st.sampled_from(sorted(document)))
    replacement = data.draw(values.filter(lambda v: canonical(v) != canonical(document[key])))
    assert not verify_document([OUR_PUBLIC], {**signed, key: replacement})
    assert not verify_document([OUR_PUBLIC], {k: v for k, v in signed.items() if k != key})
    extra = data.draw(st.text(min_size=1, max_size=8).filter(lambda k: k not in signed))
    assert not verify_document([OUR_PUBLIC], {**signed, extra: None})
