"""Reading what a server that cannot list (see `Capabilities`) still lets the console show."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Reversible
from typing import TypeVar

from ..client.errors import ClientError

T = TypeVar("T")


async def per_known_intent(
    intent_ids: Reversible[str], fetch: Callable[[str], Awaitable[T]]
) -> list[T]:
    """`fetch(intent_id)` for each intent the session knows, newest first: what a console can
    still show on a server that cannot list them. An intent that is gone or unreadable is
    skipped; the rest still show."""
    results = []
    for intent_id in reversed(intent_ids):
        try:
            results.append(await fetch(intent_id))
        except ClientError:
            continue
    return results
