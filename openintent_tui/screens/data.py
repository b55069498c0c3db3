"""The one seam between screens and the client: call a client method by name.

Endpoint groups land in the client over time and servers differ (the reference cannot list
intents); a method the client or the server lacks becomes `Unavailable`, which screens show as
"unavailable on this server" instead of crashing.
"""

from __future__ import annotations

from typing import Any

from ..client.errors import ClientError, Unavailable


async def call(client: Any, method: str, *args: Any, **kwargs: Any) -> Any:
    function = getattr(client, method, None)
    if function is None:
        raise Unavailable(0, f"this console's client has no {method}()")
    return await function(*args, **kwargs)


def items(value: Any, key: str) -> list[Any]:
    """A list from a method that returns either the list or its envelope Struct."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return list(getattr(value, key, []) or [])


async def active_leases(client: Any) -> list[Any]:
    """Every active lease on the server (one request where the server can list them all)."""
    return items(await call(client, "list_leases", status="active"), "leases")


async def pending_arbitrations(client: Any) -> list[Any]:
    return items(await call(client, "list_arbitrations", status="pending"), "arbitrations")


async def per_known_intent(client: Any, intent_ids: Any, method: str) -> list[Any]:
    """`method(intent_id)` for each intent the session knows, newest first: what a console
    can still show on a server that cannot list (the reference). An intent that is gone or
    unreadable is skipped; the rest still show."""
    results = []
    for intent_id in reversed(intent_ids):
        try:
            results.append(await call(client, method, intent_id))
        except ClientError:
            continue
    return results
