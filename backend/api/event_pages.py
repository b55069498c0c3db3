"""The encoded bytes of full pages of an intent's event log, kept in memory.

An intent's log is append-only: events are never changed or deleted, nor are intents, and
a new event always takes the next sequence number. So once a page has a next page (a row
after its last one existed when it was read), its rows are final: the same query answers
the same bytes forever, and the cache cannot serve anything a write has since changed. A
page that reached the end of the log is never kept (the next append changes it).

Reading the first pages of a long log again (the console's history, several operators on
one intent) then costs a dictionary lookup instead of a database read and 100 events of
decoding and encoding (bench/README.md). Bounded by the bytes it holds; least recently
used pages go first.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

EVENT_PAGE_CACHE_BYTES = 16 * 1_048_576


class FullPages:
    """Used from the event loop only (no locking)."""

    __slots__ = ("_held", "_max_bytes", "_pages")

    def __init__(self, max_bytes: int = EVENT_PAGE_CACHE_BYTES) -> None:
        self._pages: OrderedDict[Hashable, bytes] = OrderedDict()
        self._held = 0
        self._max_bytes = max_bytes

    def get(self, key: Hashable) -> bytes | None:
        body = self._pages.get(key)
        if body is not None:
            self._pages.move_to_end(key)
        return body

    def put(self, key: Hashable, body: bytes) -> None:
        """Keep `body`, the encoded page `key` answered, which must have a next page."""
        if len(body) > self._max_bytes or key in self._pages:
            return
        self._pages[key] = body
        self._held += len(body)
        while self._held > self._max_bytes:
            _, dropped = self._pages.popitem(last=False)
            self._held -= len(dropped)

    @property
    def held_bytes(self) -> int:
        return self._held
