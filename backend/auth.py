"""API keys: only SHA-256 digests are kept, and a presented key is compared with every one of
them in constant time. The key authenticates; it never becomes an actor in the data."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from litestar.exceptions import NotAuthorizedException
from litestar.types import ASGIApp, Receive, Scope, Send

from .wire.headers import API_KEY


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


class KeyRing:
    def __init__(self, keys: Sequence[str], hashes: Sequence[str] = ()) -> None:
        self._digests = [digest(k) for k in keys] + [bytes.fromhex(h) for h in hashes]
        if not self._digests:
            raise ValueError("at least one API key is required")

    def accepts(self, presented: str | None) -> bool:
        candidate = digest(presented or "")
        matched = False
        for known in self._digests:  # no early exit: timing must not tell which key matched
            matched |= hmac.compare_digest(candidate, known)
        return matched and bool(presented)


def api_key_middleware(app: ASGIApp) -> ASGIApp:
    """Router middleware, not a guard: Litestar hands every guard a copy of the route
    handler, which cost more than the check itself (bench/README.md). Runs after routing,
    so unknown paths and wrong methods still answer 404/405."""

    async def require_api_key(scope: Scope, receive: Receive, send: Send) -> None:
        presented = next((v for k, v in scope["headers"] if k == API_KEY.raw), None)
        keyring: KeyRing = scope["litestar_app"].state.keyring
        if not keyring.accepts(None if presented is None else presented.decode("latin-1")):
            raise NotAuthorizedException("Invalid or missing API key")
        await app(scope, receive, send)

    return require_api_key
