"""Raw ASGI as the HTTP servers speak it at the edge (lifespan included): plain dicts. The
wrappers here sit outside Litestar, whose typed view of scopes and messages covers only
what reaches an app's routes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[..., Awaitable[None]]
"""Any ASGI application, Litestar's included (its own typed signature is narrower)."""
