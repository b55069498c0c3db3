"""Lean dispatch for the hottest endpoints (get intent, state patch, append event, lease
acquire/release).

Litestar still routes every request (404/405, path parameters) and its exception middleware
still turns every error into the one error body. What is skipped is the per-request handler
pipeline: the Request object, the kwargs model, dependency resolution, the signature model,
`to_response` and the Response object, which together cost more than the store call on
these endpoints (bench/README.md).

The routes it serves are declared in one table (`api/fast_routes.py`): each names a Litestar
route and a lean function `fn(call) -> (status, value, headers)` that shares its logic with
the Litestar handler. `install` finds each route's handlers at start and refuses to start
if one has a layer the lean path would skip (a guard, a dependency other than the store,
middleware other than the API key and this layer, request or response hooks, response
headers or cookies): so nothing added later to those routes is silently bypassed.
`fast_layer`, router middleware after the API-key check, dispatches the marked handlers.

Anything off the happy path goes back to the Litestar handler unchanged, with the body
replayed: a body that `api/body.py` refuses (not declared JSON, too deep, malformed, not
the request Struct), a missing or too large `Content-Length`. So the wire format and every
error stays exactly Litestar's; tests compare both paths byte for byte.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, NamedTuple, TypeVar, cast

import msgspec
from litestar import Litestar
from litestar.exceptions import HTTPException
from litestar.handlers import HTTPRouteHandler
from litestar.types import (
    ASGIApp,
    HTTPRequestEvent,
    HTTPResponseBodyEvent,
    HTTPResponseStartEvent,
    HTTPScope,
    Receive,
    ReceiveMessage,
    Scope,
    Send,
)

from ..auth import api_key_middleware
from ..domain.numbers import parse_decimal
from ..store import Store
from ..wire.headers import CONTENT_LENGTH, CONTENT_TYPE, Header
from .body import decode_json_body
from .params import MAX_DIGITS, check_query_integers, integer_query_names

T = TypeVar("T")

_encode = msgspec.json.Encoder().encode
_JSON = (CONTENT_TYPE.raw, b"application/json")


class Fallback(Exception):
    """Let the Litestar handler answer this request."""


class Call:
    """What a fast handler sees: path parameters, headers, the query, the body, the store,
    settings."""

    __slots__ = ("body", "headers", "path_params", "query_string", "state", "store")

    def __init__(self, scope: HTTPScope, body: bytes, store: Store) -> None:
        self.path_params: dict[str, Any] = scope["path_params"]
        self.headers: list[tuple[bytes, bytes]] = list(scope["headers"])
        self.query_string: bytes = scope["query_string"]
        self.body = body
        self.store = store
        self.state = scope["litestar_app"].state

    def query(self) -> Query:
        """The query parameters, when they are plain: `name=value` pairs of URL-safe
        characters, each name once. Anything else (escapes, `+`, a repeated or empty
        name or value) goes back to Litestar, whose parser and validation answer it."""
        found: dict[str, str] = {}
        if self.query_string:
            text = self.query_string.decode("latin-1")
            if not _PLAIN_QUERY.fullmatch(text):
                raise Fallback
            for pair in text.split("&"):
                name, _, value = pair.partition("=")
                if name in found:
                    raise Fallback
                found[name] = value
        return Query(found)

    def header(self, header: Header) -> str | None:
        """The first value, as Litestar's header parameters take it."""
        for key, value in self.headers:
            if key == header.raw:
                return value.decode("latin-1")
        return None

    def data(self, struct: type[T]) -> T:
        """The body as `struct`, by the same strict rules as the Litestar path (api/body.py);
        anything it refuses goes back to Litestar, which answers with the same error."""
        try:
            return decode_json_body(
                self.body,
                struct,
                self.header(CONTENT_TYPE),
                self.state.settings.max_json_depth,
            )
        except HTTPException:
            raise Fallback from None


_PLAIN_QUERY = re.compile(
    r"[A-Za-z0-9_\-.~]+=[A-Za-z0-9_\-.~:]+(&[A-Za-z0-9_\-.~]+=[A-Za-z0-9_\-.~:]+)*"
)


class Query:
    """Plain query parameters (`Call.query`); a value Litestar would refuse is a Fallback, so
    the refusal is Litestar's own."""

    __slots__ = ("_values",)

    def __init__(self, values: dict[str, str]) -> None:
        self._values = values

    def text(self, name: str) -> str | None:
        return self._values.get(name)

    def integer(self, name: str, default: int, ge: int, le: int) -> int:
        """By the rule of `params.check_query_integers` (ASCII digits) and the range."""
        value = self._values.get(name)
        if value is None:
            return default
        if not (value.isdigit() and len(value) <= MAX_DIGITS):
            raise Fallback
        number = int(value)
        if not ge <= number <= le:
            raise Fallback
        return number

    def choice(self, name: str, allowed: Iterable[str]) -> str | None:
        value = self._values.get(name)
        if value is not None and value not in allowed:
            raise Fallback
        return value


FastHandler = Callable[[Call], Awaitable[tuple[int, Any, dict[str, str] | None]]]


class FastRoute(NamedTuple):
    method: str
    path: str
    """As the controllers declare it below the API prefix: `/intents/{intent_id:str}`."""
    fn: FastHandler
    reads_query: bool = False
    """`fn` reads the query only through `Call.query`, which checks integers as the
    route's before_request hook (`check_query_integers`) would, falling back otherwise."""


class FastPathError(Exception):
    """A declared route is missing, or has a layer the lean path would skip."""


# What the lean path itself stands in for: the API-key middleware runs before it, `Call`
# carries the store, and the query-integer check has nothing to check on a route without
# integer query parameters (checked per route in `skipped_layers`).
_DEPENDENCIES_PROVIDED = {"store"}


def skipped_layers(handler: HTTPRouteHandler, reads_query: bool = False) -> list[str]:
    """What of this handler's resolved layers the lean path would not run; empty if none."""
    skipped = []
    if guards := handler.resolve_guards():
        skipped.append(f"guards {guards}")
    if extra := set(handler.resolve_dependencies()) - _DEPENDENCIES_PROVIDED:
        skipped.append(f"dependencies {sorted(extra)}")
    # Litestar resolves middleware innermost first.
    middleware = list(reversed(handler.resolve_middleware()))
    if middleware != [api_key_middleware, fast_layer]:
        names = [getattr(m, "__name__", repr(m)) for m in middleware]
        skipped.append(f"middleware {names} (the API key, then this layer, is all it runs)")
    before = handler.resolve_before_request()
    if before is not None and (
        getattr(before, "__wrapped__", before) is not check_query_integers
        or (integer_query_names(handler) and not reads_query)
    ):
        skipped.append("a before_request hook")
    if any(getattr(layer, "after_request", None) for layer in handler.ownership_layers):
        skipped.append("an after_request hook")
    if handler.resolve_after_response() is not None:
        skipped.append("an after_response hook")
    if [h for h in handler.resolve_response_headers() if not h.documentation_only]:
        skipped.append("response headers")
    if handler.resolve_response_cookies():
        skipped.append("response cookies")
    return skipped


def install(app: Litestar, routes: Iterable[FastRoute], prefixes: Iterable[str]) -> None:
    """Find the handlers of `routes` under each prefix and mark them for `fast_layer`."""
    wanted = {(r.method, prefix + r.path): r for r in routes for prefix in prefixes}
    marked: dict[int, FastHandler] = {}
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            for method in getattr(handler, "http_methods", ()):
                fast = wanted.pop((method, route.path), None)
                if fast is None:
                    continue
                if skipped := skipped_layers(handler, fast.reads_query):
                    raise FastPathError(
                        f"{method} {route.path} is on the fast path, which would skip its "
                        + "; ".join(skipped)
                        + ": serve it through Litestar (api/fast_routes.py) or run that here"
                    )
                marked[id(handler)] = fast.fn
    if wanted:
        raise FastPathError(f"fast routes with no such route: {sorted(wanted)}")
    app.state.fast_routes = marked


def fast_layer(app: ASGIApp) -> ASGIApp:
    """Router middleware, last before the handler: a marked handler is served lean."""

    async def serve(scope: Scope, receive: Receive, send: Send) -> None:
        state = scope["litestar_app"].state
        fn = state.fast_routes.get(id(scope["route_handler"]))
        if fn is None:
            await app(scope, receive, send)
        else:  # only HTTP route handlers are marked
            await dispatch(fn, state.store, app, cast("HTTPScope", scope), receive, send)

    return serve


async def dispatch(
    fn: FastHandler,
    store: Store,
    app: ASGIApp,
    scope: HTTPScope,
    receive: Receive,
    send: Send,
) -> None:
    body = b""
    if scope["method"] in ("POST", "PUT", "PATCH"):
        length = next((v for k, v in scope["headers"] if k == CONTENT_LENGTH.raw), None)
        handler = cast("HTTPRouteHandler", scope["route_handler"])
        limit = handler.resolve_request_max_body_size() or 0
        size = None if length is None else parse_decimal(length.decode("latin-1"))
        if size is None or size > limit:
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
    raw_headers += [_JSON, (CONTENT_LENGTH.raw, str(len(payload)).encode())]
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": status,
        "headers": raw_headers,
    }
    await send(start)
    end: HTTPResponseBodyEvent = {"type": "http.response.body", "body": payload, "more_body": False}
    await send(end)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> ReceiveMessage:
        nonlocal sent
        if not sent:
            sent = True
            request: HTTPRequestEvent = {"type": "http.request", "body": body, "more_body": False}
            return request
        return await receive()

    return replay
