"""Parameters shared by controllers, declared once so they read the same in OpenAPI."""

from __future__ import annotations

from typing import Annotated

from litestar.params import HeaderParameter, QueryParameter

from ..domain.errors import InvalidInput

AgentIdHeader = Annotated[
    str | None,
    HeaderParameter(
        name="X-Agent-ID",
        description="Who is acting. Recorded as the actor; the API key never is.",
        required=False,
    ),
]
IfMatchHeader = Annotated[
    str | None,
    HeaderParameter(
        name="If-Match",
        description="The intent version this change is based on: `3` (as the SDK sends) or "
        'the ETag form `"3"`. Required: without it the change is a 400.',
        # Documented as required; the handler checks it (parse_if_match) so that a missing
        # header is the same 400 on every path, the lean one included.
        required=True,
    ),
]
Limit = Annotated[int, QueryParameter(ge=1, le=1000, description="Page size")]
Offset = Annotated[int, QueryParameter(ge=0)]


def actor_of(header: str | None, *body_fields: str | None) -> str | None:
    """X-Agent-ID first, then the body's own agent field."""
    for candidate in (header, *body_fields):
        if candidate:
            return candidate
    return None


def parse_if_match(value: str | None) -> int:
    if value is None:
        raise InvalidInput("If-Match header required", errors=[{"field": "If-Match"}])
    text = value.strip()
    if text.startswith("W/"):
        text = text[2:]
    text = text.strip('"')
    if not text.isdigit():
        raise InvalidInput(
            f"If-Match must be the integer version, not {value!r}",
            errors=[{"field": "If-Match"}],
        )
    return int(text)


def etag(version: int) -> dict[str, str]:
    return {"ETag": f'"{version}"'}
