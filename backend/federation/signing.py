"""The signed bytes of envelopes, callbacks and attestations, and Ed25519 over them.

The canonical form is what the SDK's `sign_envelope` signs: the object without its top-level
`signature`, as stdlib `json.dumps(..., sort_keys=True, separators=(",", ":"))` writes it.
That means ASCII-only output (`\\u00e1`, surrogate pairs for astral characters), keys sorted
by code point at every level, Python's float repr (`1e+21`, `1e-07`, `2.0`) and exact big
integers. msgspec writes several of these differently (raw UTF-8, `1e21`), so the canonical
bytes are produced by stdlib `json` only, always from the parsed object, never the raw body.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

SIGNATURE_FIELD = "signature"
SIGNATURE_BYTES = 64
PUBLIC_KEY_BYTES = 32


def canonical_bytes(document: Mapping[str, Any]) -> bytes:
    """The bytes that are signed: every field but the top-level `signature`."""
    unsigned = {k: v for k, v in document.items() if k != SIGNATURE_FIELD}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":")).encode("ascii")


def sign_document(private_key: Ed25519PrivateKey, document: Mapping[str, Any]) -> str:
    """base64 (standard alphabet, padded) of the Ed25519 signature over the canonical bytes."""
    return base64.b64encode(private_key.sign(canonical_bytes(document))).decode("ascii")


def decode_signature(signature: object) -> bytes | None:
    """The 64 raw bytes of a base64 signature, or None when it is not one."""
    if not isinstance(signature, str):
        return None
    try:
        raw = base64.b64decode(signature.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None
    return raw if len(raw) == SIGNATURE_BYTES else None


def public_key_from_b64(value: object) -> Ed25519PublicKey | None:
    """A published key (base64 of the 32 raw bytes), or None when it is not one."""
    if not isinstance(value, str):
        return None
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None
    if len(raw) != PUBLIC_KEY_BYTES:
        return None
    return Ed25519PublicKey.from_public_bytes(raw)


def verify_bytes(keys: Iterable[Ed25519PublicKey], message: bytes, signature: bytes) -> bool:
    """True when any of `keys` made `signature` (a key set: rotation keeps old keys valid)."""
    for key in keys:
        try:
            key.verify(signature, message)
            return True
        except InvalidSignature:
            continue
    return False


def verify_document(keys: Iterable[Ed25519PublicKey], document: Mapping[str, Any]) -> bool:
    """Verify a received object's own `signature` over the object as received."""
    signature = decode_signature(document.get(SIGNATURE_FIELD))
    if signature is None:
        return False
    return verify_bytes(keys, canonical_bytes(document), signature)
