"""One error shape for every failure: `{"detail", "message", ...}` as JSON, never HTML or text."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_400_BAD_REQUEST, HTTP_500_INTERNAL_SERVER_ERROR
from litestar.types import ExceptionHandlersMap

from .domain.errors import DomainError, InvalidInput
from .wire.base import ErrorBody

log = logging.getLogger("openintent.errors")


def error_response(status: int, message: str, **extra: Any) -> Response[ErrorBody]:
    return Response(ErrorBody(detail=message, message=message, **extra), status_code=status)


def domain_error_handler(_: Request, exc: DomainError) -> Response[ErrorBody]:
    extra: dict[str, Any] = {
        k: v for k, v in exc.extra.items() if k in ("current_version", "existing_lease")
    }
    if isinstance(exc, InvalidInput):
        extra["errors"] = exc.errors
    response = error_response(exc.status_code, exc.message, **extra)
    if "current_version" in extra:
        response.headers["ETag"] = f'"{extra["current_version"]}"'
    return response


def http_error_handler(_: Request, exc: HTTPException) -> Response[ErrorBody]:
    errors = (
        exc.extra
        if isinstance(exc.extra, list)
        else ([exc.extra] if isinstance(exc.extra, dict) and exc.extra else [])
    )
    message = exc.detail
    if isinstance(exc, ValidationException) and errors:
        first = errors[0]
        message = f"{exc.detail}: {first.get('message', '')}".rstrip(": ")
    response = error_response(exc.status_code, message, errors=errors)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


def unexpected_error_handler(request: Request, exc: Exception) -> Response[ErrorBody]:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(HTTP_500_INTERNAL_SERVER_ERROR, "Internal server error")


def input_refusal_handlers(refusals: Mapping[type[Exception], str]) -> ExceptionHandlersMap:
    """400 for the store's database refusing the client's input (`Store.INPUT_REFUSALS`)."""

    def handler(_: Request, exc: Exception) -> Response[ErrorBody]:
        message = next(m for cls, m in refusals.items() if isinstance(exc, cls))
        return error_response(HTTP_400_BAD_REQUEST, message, errors=[{"message": str(exc)}])

    return dict.fromkeys(refusals, handler)


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    DomainError: domain_error_handler,
    HTTPException: http_error_handler,
    Exception: unexpected_error_handler,
}
