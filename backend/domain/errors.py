"""Typed domain errors. `backend.errors` maps each to one HTTP status and JSON body."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status_code = 400

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra


class InvalidInput(DomainError):
    """The request is well-formed JSON but breaks a rule; nothing was changed."""

    status_code = 400

    def __init__(self, message: str, errors: list[dict[str, Any]] | None = None, **extra: Any):
        super().__init__(message, **extra)
        self.errors = errors or [{"message": message}]


class NotFound(DomainError):
    status_code = 404


class Forbidden(DomainError):
    status_code = 403


class Conflict(DomainError):
    """409. Keep the word "lease" out of non-lease messages: the SDK keys on it."""

    status_code = 409


class VersionConflict(Conflict):
    def __init__(self, current_version: int) -> None:
        super().__init__(
            f"Version conflict: the intent is at version {current_version}",
            current_version=current_version,
        )
        self.current_version = current_version


class PayloadTooLarge(DomainError):
    status_code = 413
