"""The server's federation identity: Ed25519 keys kept beside the database, and its did:web.

The key file holds the 32-byte Ed25519 seed, the format of the SDK's `ServerIdentity.save_key`
and `from_key_file`. It is created once (mode 0600, exclusively, so two processes starting
together cannot each write their own) and then only read, so one database is one identity.

Rotation: `rotate_identity` moves the current seed aside to `<key file>.retired-<n>` and
writes a new one. The new key signs; every retired file still present is published in the
DID document and still verifies, until the operator deletes the file.
"""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .signing import PUBLIC_KEY_BYTES, sign_document, verify_bytes

SEED_BYTES = 32
RETIRED_MARK = ".retired-"
ED25519_MULTICODEC = b"\xed\x01"
DID_CONTEXT = [
    "https://www.w3.org/ns/did/v1",
    "https://w3id.org/security/suites/ed25519-2020/v1",
]
_BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


class IdentityError(Exception):
    """The key file cannot be used (wrong size, unreadable)."""


class KeyPair:
    __slots__ = ("private", "public", "raw_public")

    def __init__(self, seed: bytes) -> None:
        if len(seed) != SEED_BYTES:
            raise IdentityError(f"an Ed25519 seed is {SEED_BYTES} bytes, not {len(seed)}")
        self.private = Ed25519PrivateKey.from_private_bytes(seed)
        self.public = self.private.public_key()
        self.raw_public = self.public.public_bytes_raw()

    @property
    def public_b64(self) -> str:
        return base64.b64encode(self.raw_public).decode("ascii")

    @property
    def multibase(self) -> str:
        return public_key_multibase(self.raw_public)


class Identity:
    """Our keys, newest first: `keys[0]` signs, all of them verify."""

    def __init__(self, keys: list[KeyPair], did: str) -> None:
        if not keys:
            raise IdentityError("an identity needs at least one key")
        self.keys = keys
        self.did = did

    @property
    def signing_key(self) -> KeyPair:
        return self.keys[0]

    @property
    def public_key_b64(self) -> str:
        return self.signing_key.public_b64

    @property
    def public_keys(self) -> list[Ed25519PublicKey]:
        return [k.public for k in self.keys]

    def sign(self, document: dict) -> str:
        return sign_document(self.signing_key.private, document)

    def sign_bytes(self, message: bytes) -> bytes:
        return self.signing_key.private.sign(message)

    def verify_bytes(self, message: bytes, signature: bytes) -> bool:
        return verify_bytes(self.public_keys, message, signature)

    def did_document(self) -> dict:
        methods = [
            {
                "id": f"{self.did}#key-{n}",
                "type": "Ed25519VerificationKey2020",
                "controller": self.did,
                "publicKeyBase64": key.public_b64,
                "publicKeyMultibase": key.multibase,
            }
            for n, key in enumerate(self.keys, start=1)
        ]
        return {
            "@context": DID_CONTEXT,
            "id": self.did,
            "verificationMethod": methods,
            "authentication": [m["id"] for m in methods],
            "assertionMethod": [m["id"] for m in methods],
        }


def default_key_path(db_path: Path) -> Path:
    """Beside the database and named after it: two databases in one directory stay two
    servers."""
    return db_path.with_name(db_path.name + ".federation-key")


def load_or_create_seed(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        seed = os.urandom(SEED_BYTES)
        with os.fdopen(fd, "wb") as fh:
            fh.write(seed)
            fh.flush()
            os.fsync(fh.fileno())
        return seed
    seed = path.read_bytes()
    if len(seed) != SEED_BYTES:
        raise IdentityError(f"{path}: expected a {SEED_BYTES}-byte Ed25519 seed")
    return seed


def retired_key_paths(path: Path) -> list[Path]:
    """Retired seeds, newest first (the suffix is a counter)."""
    found = []
    for candidate in path.parent.glob(path.name + RETIRED_MARK + "*"):
        suffix = candidate.name[len(path.name + RETIRED_MARK) :]
        if suffix.isdigit():
            found.append((int(suffix), candidate))
    return [p for _, p in sorted(found, reverse=True)]


def load_identity(path: Path, did: str) -> Identity:
    keys = [KeyPair(load_or_create_seed(path))]
    for retired in retired_key_paths(path):
        keys.append(KeyPair(retired.read_bytes()))
    return Identity(keys, did)


def rotate_identity(path: Path) -> Path:
    """Retire the current key (it keeps verifying) and create a new one. Returns the retired
    file: delete it to stop accepting signatures made with the old key."""
    load_or_create_seed(path)
    existing = retired_key_paths(path)
    number = 1 + max((int(p.name.rsplit("-", 1)[1]) for p in existing), default=0)
    retired = path.with_name(path.name + RETIRED_MARK + str(number))
    os.rename(path, retired)
    load_or_create_seed(path)
    return retired


# did:web ------------------------------------------------------------------------------


def did_from_url(url: str) -> str:
    """The SDK's form: `did:web:` + the URL without scheme and trailing `/`
    (`http://127.0.0.1:8001` -> `did:web:127.0.0.1:8001`, the port colon left raw)."""
    rest = re.sub(r"^https?://", "", url.strip(), flags=re.I).rstrip("/")
    return "did:web:" + rest


def normalize_did(did: str) -> str:
    """For comparing DIDs: the W3C `%3A` port form and the SDK's raw-colon form, and path
    slashes, compare equal; case does not matter."""
    return did.strip().lower().replace("%3a", ":").replace("/", ":").rstrip(":")


def normalize_url(url: str) -> str:
    """Scheme and host lower-cased, no trailing `/`; for matching peers by URL."""
    raw = url.strip()
    parts = urlsplit(raw)
    if not parts.scheme or not parts.netloc:
        return raw.rstrip("/").lower()
    path = parts.path.rstrip("/")
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{path}"


def public_key_multibase(raw_public: bytes) -> str:
    """`z` + base58btc(0xed01 || key): the Ed25519VerificationKey2020 / did:key form."""
    if len(raw_public) != PUBLIC_KEY_BYTES:
        raise ValueError("an Ed25519 public key is 32 bytes")
    return "z" + _base58btc(ED25519_MULTICODEC + raw_public)


def public_key_from_multibase(value: str) -> bytes | None:
    if not value.startswith("z"):
        return None
    try:
        raw = _base58btc_decode(value[1:])
    except ValueError:
        return None
    if len(raw) != 2 + PUBLIC_KEY_BYTES or not raw.startswith(ED25519_MULTICODEC):
        return None
    return raw[2:]


def _base58btc(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    out = []
    while number:
        number, digit = divmod(number, 58)
        out.append(_BASE58[digit])
    zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * zeros + "".join(reversed(out))


def _base58btc_decode(text: str) -> bytes:
    number = 0
    for char in text:
        index = _BASE58.find(char)
        if index < 0:
            raise ValueError(f"not base58btc: {char!r}")
        number = number * 58 + index
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    zeros = len(text) - len(text.lstrip("1"))
    return b"\0" * zeros + body
