"""Lean dispatch for the hottest endpoints (get intent, state patch, append event, lease
acquire/release).

Litestar still routes every request (404/405, path parameters) and its exception middleware
still turns every error into the one error body. What is skipped is the per-request handler
pipeline: the Request object, the kwargs model, dependency resolution, the signature model,
`to_response` and the Response object, which together cost more than the store call on
these endpoints (bench/README.md). A handler opts in with `opt=fast(fn)`; `fn(call)` returns
`(status, value, headers)` and shares its logic with the Litestar handler beside it.

Anything off the happy path goes back to the Litestar handler unchanged, with the body
replayed: a body that `api/body.py` refuses (not declared JSON, too deep, malformed, not
the request Struct), a missing or too large `Content-Length`. So the wire
format and every error stays exactly Litestar's; tests compare both paths byte for byte.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec
from litestar.exceptions import HTTPException
from litestar.types import Message, Receive, Scope, Send

from ..store import Store
from .body import decode_json_body

T = TypeVar("T")

FAST_KEY = "openintent_fast"

_encode = msgspec.json.Encoder().encode
_CONTENT_TYPE = (b"content-type", b"application/json")


class Fallback(Exception):
    """Let the Litestar handler answer this request."""


class Call:
    """What a fast handler sees: path parameters, headers, the body, the store, settings."""

    __slots__ = ("body", "headers", "path_params", "state", "store")

    def __init__(self, scope: Scope, body: bytes, store: Store) -> None:
        self.path_params: dict[str, Any] = scope["path_params"]
        self.headers: list[tuple[bytes, bytes]] = scope["headers"]
        self.body = body
        self.store = store
        self.state = scope["litestar_app"].state

    def header(self, name: bytes) -> str | None:
        """`name` in lower case; the first value, as Litestar's header parameters take it."""
        for key, value in self.headers:
            if key == name:
                return value.decode("latin-1")
        return None

    def data(self, struct: type[T]) -> T:
        """The body as `struct`, by the same strict rules as the Litestar path (api/body.py);
        anything it refuses goes back to Litestar, which answers with the same error."""
        try:
            return decode_json_body(
                self.body,
                struct,
                self.header(b"content-type"),
                self.state.settings.max_json_depth,
            )
        except HTTPException:
            raise Fallback from None


FastHandler = Callable[[Call], Awaitable[tuple[int, Any, dict[str, str] | None]]]


def fast(fn: FastHandler) -> dict[str, Any]:
    """`opt=` for a route handler: serve it through `fn` when the request allows."""
    return {FAST_KEY: fn}


async def dispatch(
    fn: FastHandler,
    store: Store,
    app: Callable[[Scope, Receive, Send], Awaitable[None]],
    scope: Scope,
    receive: Receive,
    send: Send,
) -> None:
    body = b""
    if scope["method"] in ("POST", "PUT", "PATCH"):
        length = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        limit = scope["route_handler"].resolve_request_max_body_size() or 0
        if length is None or not length.isdigit() or int(length) > limit:
            await app(scope, receive, send)  # Litestar answers 411/413/400 as it does
            return
        chunks = []
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # disconnected: nothing to answer
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
    try:
        status, value, headers = await fn(Call(scope, body, store))
    except Fallback:
        await app(scope, _replay(body, receive), send)
        return
    payload = _encode(value)
    raw_headers = [
        (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()
    ]
    raw_headers += [_CONTENT_TYPE, (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": payload})


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
