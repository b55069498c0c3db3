"""Typed client errors. Each carries a short human `message` the console can show as a toast."""

from __future__ import annotations

from typing import Any


class ClientError(Exception):
    """A request failed. `status` is the HTTP status (0 when no response arrived)."""

    def __init__(self, status: int, message: str, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.body = body

    def __str__(self) -> str:
        return self.message


class AuthError(ClientError):
    """401: the API key is missing or wrong."""


class ForbiddenError(ClientError):
    """403: the key or agent may not do this."""


class NotFoundError(ClientError):
    """404 for a resource (intent, lease...) that does not exist."""


class ConflictError(ClientError):
    """409: a stale version or a scope held by another lease."""

    def __init__(
        self,
        status: int,
        message: str,
        body: Any = None,
        *,
        current_version: int | None = None,
        existing_lease: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(status, message, body)
        self.current_version = current_version
        self.existing_lease = existing_lease


class ValidationError(ClientError):
    """400 / 422: the server rejected the input; `errors` lists the offending fields."""

    def __init__(
        self, status: int, message: str, body: Any = None, *, errors: list | None = None
    ) -> None:
        super().__init__(status, message, body)
        self.errors = errors or []


class PayloadTooLargeError(ClientError):
    """413: the body (an attachment, a big state) is over the server's limit."""


class ServerError(ClientError):
    """5xx: the server failed; retrying later may work."""


class Unavailable(ClientError):
    """This server does not offer the endpoint (unknown route 404, or 405): a feature the
    server lacks, such as listing intents on the reference server. Not retryable."""


class ConnectionLost(ClientError):
    """No response: connection refused or reset, or a timeout. Retryable."""

    def __init__(self, message: str, cause: Exception | None = None) -> None:
        super().__init__(0, message, None)
        self.cause = cause


# Litestar and FastAPI both answer an unrouted path with exactly this detail; a missing
# resource always names what was missing, so the two 404s can be told apart.
ROUTE_NOT_FOUND_DETAILS = frozenset({"Not Found", "Not Found."})


def _text(body: Any, fallback: str) -> str:
    if isinstance(body, dict):
        for key in ("message", "detail", "error"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value
            if isinstance(value, list) and value:  # FastAPI 422: detail is a list of errors
                first = value[0]
                if isinstance(first, dict) and "msg" in first:
                    return f"invalid input: {first['msg']}"
    if isinstance(body, str) and body.strip():
        return body.strip()[:200]
    return fallback


def error_for(status: int, body: Any, what: str) -> ClientError:
    """The typed error for a non-2xx response to `what` (e.g. "GET /api/v1/intents")."""
    message = _text(body, f"HTTP {status}")
    detail = body.get("detail") if isinstance(body, dict) else None
    if status == 401:
        return AuthError(status, f"Not authorised: {message} (check the API key)", body)
    if status == 403:
        return ForbiddenError(status, f"Forbidden: {message}", body)
    if status == 404:
        if detail in ROUTE_NOT_FOUND_DETAILS or body is None or body == "":
            return Unavailable(status, f"This server does not support {what}", body)
        return NotFoundError(status, message, body)
    if status == 405:
        return Unavailable(status, f"This server does not support {what}", body)
    if status == 409:
        extra = body if isinstance(body, dict) else {}
        return ConflictError(
            status,
            message,
            body,
            current_version=extra.get("current_version"),
            existing_lease=extra.get("existing_lease"),
        )
    if status in (400, 422):
        errors = body.get("errors") if isinstance(body, dict) else None
        if errors is None and isinstance(detail, list):
            errors = detail
        return ValidationError(status, message, body, errors=errors)
    if status == 413:
        return PayloadTooLargeError(status, f"Too large: {message}", body)
    if status >= 500:
        return ServerError(status, f"Server error ({status}): {message}", body)
    return ClientError(status, message, body)
