"""Parameters shared by controllers, declared once so they read the same in OpenAPI."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Generic, NamedTuple, TypeVar

from litestar import Request
from litestar.enums import ParamType
from litestar.exceptions import ValidationException
from litestar.params import HeaderParameter, ParameterKwarg, QueryParameter

from ..domain.errors import InvalidInput
from ..domain.numbers import parse_decimal
from ..store.keyset import Slice
from ..wire.headers import AGENT_ID, ETAG, IF_MATCH
from ..wire.limits import MAX_INT64, MAX_PAGE

T = TypeVar("T")
MAX_DIGITS = len(str(MAX_INT64))  # longer is out of range anyway: no huge int() parse

AgentIdHeader = Annotated[
    str | None,
    HeaderParameter(
        name=AGENT_ID.name,
        description="Who is acting. Recorded as the actor; the API key never is.",
        required=False,
    ),
]
IfMatchHeader = Annotated[
    str | None,
    HeaderParameter(
        name=IF_MATCH.name,
        description="The intent version this change is based on: `3` (as the SDK sends) or "
        'the ETag form `"3"`. Required: without it the change is a 400.',
        # Documented as required; the handler checks it (parse_if_match) so that a missing
        # header is the same 400 on every path, the lean one included.
        required=True,
    ),
]
Limit = Annotated[int, QueryParameter(ge=1, le=MAX_PAGE, description="Page size")]
Offset = Annotated[int, QueryParameter(ge=0, le=MAX_INT64)]
Sequence = Annotated[
    int, QueryParameter(ge=0, le=MAX_INT64, description="Global sequence seen (exclusive)")
]


def actor_of(header: str | None, *body_fields: str | None) -> str | None:
    """X-Agent-ID first, then the body's own agent field."""
    for candidate in (header, *body_fields):
        if candidate:
            return candidate
    return None


def parse_if_match(value: str | None) -> int:
    if value is None:
        raise InvalidInput(f"{IF_MATCH.name} header required", errors=[{"field": IF_MATCH.name}])
    text = value.strip()
    if text.startswith("W/"):
        text = text[2:]
    version = parse_decimal(text.strip('"'))
    if version is None:
        raise InvalidInput(
            f"{IF_MATCH.name} must be the integer version, not {value!r}",
            errors=[{"field": IF_MATCH.name}],
        )
    return version


def etag(version: int) -> dict[str, str]:
    return {ETAG.name: f'"{version}"'}


_integer_queries: dict[Any, tuple[str, ...]] = {}


def handler_function(handler: Any) -> Any:
    """The plain function behind a route handler, the same in every app: a key for caches
    of what its signature declares. (`handler.fn` of a controller's handler is a method bound
    to one app's controller: as a module-level key it kept every app ever built alive.)"""
    return getattr(handler.fn, "__func__", handler.fn)


def integer_query_names(handler: Any) -> tuple[str, ...]:
    """The names of the handler's integer query parameters."""
    fn = handler_function(handler)
    names = _integer_queries.get(fn)
    if names is None:
        found = []
        for name, field in handler.parsed_fn_signature.parameters.items():
            kwarg = field.kwarg_definition
            if not isinstance(kwarg, ParameterKwarg) or kwarg.param_type != ParamType.QUERY:
                continue
            types = field.inner_types if field.is_optional else (field,)
            if any(t.annotation is int for t in types):
                found.append(kwarg.name or kwarg.query or name)
        names = _integer_queries[fn] = tuple(found)
    return names


async def check_query_integers(request: Request) -> None:
    """Before Litestar reads an integer query parameter (laxly: it would take `1e3` or `5.0`),
    refuse anything but ASCII decimal digits, with Litestar's own validation error shape.
    Ranges are each parameter's `ge`/`le`, checked by Litestar afterwards."""
    names = integer_query_names(request.route_handler)
    if not names:
        return
    query = request.query_params
    for name in names:
        for value in query.getall(name, ()):
            digits = value[1:] if value.startswith("-") else value
            if not (digits.isascii() and digits.isdigit() and len(digits) <= MAX_DIGITS):
                raise ValidationException(
                    f"Validation failed for {request.method} {request.url.path}",
                    extra=[
                        {
                            "message": f"Expected an integer (ASCII digits), got {value!r}",
                            "key": name,
                            "field": name,
                            "source": "query",
                        }
                    ],
                )


Cursor = Annotated[
    str | None,
    QueryParameter(
        description="`next_cursor` of the previous page (send the same filters); its cost "
        "does not grow with the depth. Not with a nonzero offset."
    ),
]


class Page(NamedTuple, Generic[T]):
    items: list[T]
    next_offset: int | None
    next_cursor: str | None


async def page_of(
    fetch: Callable[..., Awaitable[Slice[T]]],
    request: Request,
    offset: int,
    limit: int = MAX_PAGE,
    cursor: str | None = None,
) -> Page[T]:
    """One page of a list from the store: at most `limit` items from `offset` or after
    `cursor`, ending early at the response budget (`max_response_bytes`), with where the
    next page starts (None at the end): an offset when paging by offset, and a cursor.
    `fetch(offset=, limit=, max_bytes=, cursor=)` is the store's list read (one query)."""
    budget = request.app.state.settings.max_response_bytes
    page = await fetch(offset=offset, limit=limit, max_bytes=budget, cursor=cursor)
    more_by_offset = page.more and cursor is None
    return Page(page.items, offset + len(page.items) if more_by_offset else None, page.next_cursor)
