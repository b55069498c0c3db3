"""What `/docs/openapi.json` says about errors, security and streams, derived in one place.

Litestar documents a handler's success response from its signature, and every failure as its
own `{status_code, detail, extra}` body, which this server never sends (`backend.errors` turns
everything into `ErrorBody`). `ErrorDocs` receives every route as it is registered and gives
each handler the error responses its shape implies, all with the `ErrorBody` schema:

- 400 when it takes any input (path, query, header or body),
- 401 when it is behind the API key (`security` on its router),
- 404 when its path names a resource,
- 413 and 415 when it reads a body,

plus whatever the handler declares itself with `responses=errors(...)` (409, 403, ...). A
handler that returns a `Stream` is documented as `text/event-stream`. A route added later gets
the same treatment without anyone remembering to; tests/backend/test_openapi_document.py walks
the whole document and checks these rules.

`NumberSchema` documents `Union[int, float]` (the wire's amounts) as `number`.
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from litestar.plugins import OpenAPISchemaPlugin, ReceiveRoutePlugin
from litestar.response import Stream
from litestar.routes import BaseRoute, HTTPRoute
from litestar.typing import FieldDefinition

from ..wire.base import ErrorBody

SECURITY: list[dict[str, list[str]]] = [{"apiKey": []}]
"""The requirement every route behind `api_key_middleware` declares (the scheme is in
`create_app`'s OpenAPIConfig)."""

ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "Invalid input: a parameter, header or body that does not decode or breaks a rule "
    "(`errors` says which); nothing was changed",
    401: "Missing or unknown `X-API-Key`",
    403: "Not allowed for this agent (e.g. only a lease's holder may renew or release it)",
    404: "No such resource: an id in the path (or one the body names) does not exist",
    409: "Conflict with the current state: a stale `If-Match` version (`current_version` is "
    "the one to base the change on), a scope leased by another agent (`existing_lease`), or "
    "a change that was already made",
    422: "Understood but cannot be done: no registered agent matches (OAP routing), or the "
    "agents named are not registered",
    413: "The request body is larger than the server accepts",
    415: "The request body is not `application/json`",
}

SSE_MEDIA_TYPE = "text/event-stream"
SSE_DESCRIPTION = (
    "Server-Sent Events, until the client disconnects, with keep-alive comments while idle. "
    "The schema describes each event (as OpenAPI 3.1 has it for event streams)."
)


class ServerSentEvent(msgspec.Struct, kw_only=True):
    """One event of a stream, as an SSE parser reads it (backend/bus.py writes them)."""

    id: Annotated[str, msgspec.Meta(description="The event's global sequence")]
    event: Annotated[str, msgspec.Meta(description="The event type")]
    data: Annotated[
        str,
        msgspec.Meta(
            description="The Event as JSON, with `intent_id`; on the SDK's `/subscribe` paths "
            "also the uppercase signals its agent framework dispatches on (`STATE_CHANGED`, ...)"
        ),
    ]


BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def errors(*statuses: int) -> dict[int, ResponseSpec]:
    """`responses=` for a route handler: these error statuses, each with the ErrorBody schema."""
    return {
        status: ResponseSpec(
            data_container=ErrorBody,
            description=ERROR_DESCRIPTIONS[status],
            generate_examples=False,
        )
        for status in statuses
    }


def standard_errors(route: HTTPRoute, method: str, secured: bool, params: Any) -> set[int]:
    statuses: set[int] = set()
    takes_body = method in BODY_METHODS
    if (
        takes_body
        or route.path_parameters
        or params.expected_query_params
        or params.expected_header_params
    ):
        statuses.add(400)
    if secured:
        statuses.add(401)
    if route.path_parameters:
        statuses.add(404)
    if takes_body:
        statuses |= {413, 415}
    return statuses


class ErrorDocs(ReceiveRoutePlugin):
    """Sets each registered handler's documented responses (see the module docstring). Only
    the OpenAPI document reads `responses`; requests are served exactly as before."""

    def receive_route(self, route: BaseRoute) -> None:
        if not isinstance(route, HTTPRoute):
            return
        for method, (handler, params) in route.route_handler_map.items():
            if not handler.resolve_include_in_schema():
                continue
            secured = bool(handler.resolve_security())
            responses = errors(*sorted(standard_errors(route, method, secured, params)))
            if handler.parsed_fn_signature.return_type.is_subclass_of(Stream):
                responses[handler.status_code] = ResponseSpec(
                    data_container=ServerSentEvent,
                    media_type=SSE_MEDIA_TYPE,
                    description=SSE_DESCRIPTION,
                    generate_examples=False,
                )
            # what the handler declares wins: it knows its own failures best
            handler.responses = {**responses, **(handler.responses or {})}


def json_body_operation(struct: type[msgspec.Struct]) -> type[Operation]:
    """`operation_class=` for a handler that reads and decodes its own body (so Litestar
    cannot see it): documents `struct` as the JSON request body, inline (msgspec's schema)."""
    definitions = msgspec.json.schema(struct)["$defs"]

    def inline(node: Any, seen: frozenset[str]) -> Any:
        """Nested Structs written in place (their `$ref`s resolved), so the schema stands
        alone in the operation; a Struct that contains itself cannot be inlined."""
        if isinstance(node, list):
            return [inline(item, seen) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            name = ref.removeprefix("#/$defs/")
            if name in seen:
                raise TypeError(f"{struct.__name__}: recursive Struct {name} not supported")
            return inline(definitions[name], seen | {name})
        return {key: inline(value, seen) for key, value in node.items()}

    schema = inline(definitions[struct.__name__], frozenset({struct.__name__}))

    @dataclass
    class JSONBodyOperation(Operation):
        def __post_init__(self) -> None:
            self.request_body = RequestBody(
                content={"application/json": OpenAPIMediaType(schema=schema)},
                required=True,
            )

    return JSONBodyOperation


class NumberSchema(OpenAPISchemaPlugin):
    """`int | float` as `{"type": "number"}`. Litestar would write `oneOf: [integer, number]`,
    which no integer satisfies (it matches both), so every integral amount would break the
    document. The wire keeps `int | float` so that an integer goes back out as one."""

    @staticmethod
    def is_plugin_supported_type(value: Any) -> bool:
        return False

    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        # `typing.Union` only: Litestar cannot name a `types.UnionType` (`int | float`) when
        # it looks up a plugin's schema, so the wire spells Amount with Union.
        return (
            field_definition.is_union
            and not isinstance(field_definition.annotation, types.UnionType)
            and set(field_definition.args) == {int, float}
        )

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: Any) -> Schema:
        return Schema(type=OpenAPIType.NUMBER)
