"""Async client for OpenIntent servers: no Textual imports, usable from scripts.

from openintent_tui.client import OpenIntentClient, EventStream
"""

from .core import OpenIntentClient
from .errors import (
    AuthError,
    ClientError,
    ConflictError,
    ConnectionLost,
    ForbiddenError,
    NotFoundError,
    PayloadTooLargeError,
    ServerError,
    Unavailable,
    ValidationError,
)
from .stream import Backoff, ConnectionState, EventStream

__all__ = [
    "AuthError",
    "Backoff",
    "ClientError",
    "ConflictError",
    "ConnectionLost",
    "ConnectionState",
    "EventStream",
    "ForbiddenError",
    "NotFoundError",
    "OpenIntentClient",
    "PayloadTooLargeError",
    "ServerError",
    "Unavailable",
    "ValidationError",
]
