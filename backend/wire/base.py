"""Base classes for wire Structs."""

from __future__ import annotations

from typing import Any

import msgspec


class Request(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A request body: unknown fields are a 400, so a typo never silently does nothing."""


class Response(msgspec.Struct, kw_only=True):
    """A response body. Clients decode these too, so they tolerate fields added later."""


class ErrorBody(Response, omit_defaults=True):
    """The one error shape. The SDK reads `message`, `errors`, `current_version` and
    `existing_lease`."""

    detail: str
    message: str
    errors: list[dict[str, Any]] = msgspec.field(default_factory=list)
    current_version: int | None = None
    existing_lease: dict[str, Any] | None = None


class Message(Response):
    """A plain acknowledgement, for endpoints with nothing else to return."""

    message: str


JSONObject = dict[str, Any]
