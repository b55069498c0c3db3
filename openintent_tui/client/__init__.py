"""Async client for OpenIntent servers: no Textual imports, usable from scripts.

from openintent_tui.client import connect, EventStream

`api.ServerAPI` is what the console asks of a server and `api.Capabilities` what it can do;
`OpenIntentClient` speaks to our server, `reference.ReferenceClient` to the reference server,
and `connect()` picks the one the server needs.
"""

from .api import Capabilities, ServerAPI
from .connect import connect
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
    "Capabilities",
    "ClientError",
    "ConflictError",
    "ConnectionLost",
    "ConnectionState",
    "EventStream",
    "ForbiddenError",
    "NotFoundError",
    "OpenIntentClient",
    "PayloadTooLargeError",
    "ServerAPI",
    "ServerError",
    "Unavailable",
    "ValidationError",
    "connect",
]
