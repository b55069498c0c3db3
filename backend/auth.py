"""API keys: only SHA-256 digests are kept, and a presented key is compared with every one of
them in constant time. The key authenticates; it never becomes an actor in the data."""

from __future__ import annotations

import hashlib
import hmac

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers import BaseRouteHandler

API_KEY_HEADER = "X-API-Key"


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


class KeyRing:
    def __init__(self, keys: list[str], hashes: list[str] = ()) -> None:
        self._digests = [digest(k) for k in keys] + [bytes.fromhex(h) for h in hashes]
        if not self._digests:
            raise ValueError("at least one API key is required")

    def accepts(self, presented: str | None) -> bool:
        candidate = digest(presented or "")
        matched = False
        for known in self._digests:  # no early exit: timing must not tell which key matched
            matched |= hmac.compare_digest(candidate, known)
        return matched and bool(presented)


async def api_key_guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    # async on purpose: Litestar runs a sync guard in a worker thread, a thread hop on every
    # request that cost about half the throughput (measured in bench/README.md).
    keyring: KeyRing = connection.app.state.keyring
    if not keyring.accepts(connection.headers.get(API_KEY_HEADER)):
        raise NotAuthorizedException("Invalid or missing API key")
