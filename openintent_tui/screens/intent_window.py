"""A bounded window onto the intents list: pages fetched on demand, a few kept in memory.

The server orders the list (`Query.sort`) and filters it (`Query.status`, `Query.q`). The
window holds a contiguous run of pages, anchored at the head (the list opens there; `g`) or at
the tail (`G`), and grows away from its anchor as the operator scrolls. Past `max_pages` the
page nearest the anchor is dropped and only the request that fetched it is kept, so memory
stays bounded and scrolling back re-reads it.

How a page is fetched depends on the server (`ServerAPI.keyset_intents`):
- keyset (issue 16): the next page from the previous page's `next_cursor`, whatever its depth;
  the tail is the first page of the reversed sort, so `G` costs one request at any size.
- offset (the reference-era contract): `limit/offset`; the tail is `offset = total - page`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import msgspec

from backend.wire.intents import Intent, IntentList, IntentSort

from ..client.api import ServerAPI

NEWEST_FIRST: IntentSort = "-created_at"
REVERSED: dict[IntentSort, IntentSort] = {
    "-created_at": "created_at",
    "created_at": "-created_at",
    "-updated_at": "updated_at",
    "updated_at": "-updated_at",
}


class Query(msgspec.Struct, frozen=True):
    """What the server is asked for: one list, filtered and ordered on the server."""

    status: str | None = None
    q: str | None = None
    sort: IntentSort = NEWEST_FIRST

    @property
    def is_plain(self) -> bool:
        """The whole fleet in the default order."""
        return self.status is None and not self.q and self.sort == NEWEST_FIRST

    def matches(self, intent: Intent) -> bool:
        """Whether a live change belongs in this list (the server's `q` reads the title and
        description; a near miss only means the row waits for the next reload)."""
        if self.status is not None and intent.status != self.status:
            return False
        if self.q:
            needle = self.q.lower()
            return needle in intent.title.lower() or needle in intent.description.lower()
        return True

    @property
    def changes_move_to_top(self) -> bool | None:
        """Where a changed intent goes: the top, the bottom, or nowhere (None: sorted by
        creation, a change leaves it in place)."""
        if self.sort.endswith("updated_at"):
            return self.sort.startswith("-")
        return None


class PageRequest(NamedTuple):
    cursor: str | None
    offset: int
    limit: int


class Page(msgspec.Struct):
    request: PageRequest
    intents: list[Intent]
    """In display order (top to bottom)."""
    next: PageRequest | None
    """The page beyond this one, away from the window's anchor; None at the list's end."""


class IntentWindow:
    def __init__(
        self,
        client: ServerAPI,
        query: Query,
        *,
        keyset: bool,
        page_size: int = 200,
        max_pages: int | None = 10,
    ) -> None:
        self.client = client
        self.query = query
        self.keyset = keyset
        self.page_size = page_size
        self.max_pages = max_pages
        """None holds every page (a fleet small enough to keep whole)."""
        self.pages: list[Page] = []
        """In fetch order: away from the anchor."""
        self.dropped: list[tuple[PageRequest, int]] = []
        """Pages dropped on the anchor side (request, rows), the nearest last."""
        self.at_tail = False
        self.total = 0
        """How many intents the query matches (the server's `total`, kept in step live)."""
        self.requests = 0

    # ---- reading -----------------------------------------------------------------------------

    def intents(self) -> Iterator[Intent]:
        """Top to bottom."""
        pages = reversed(self.pages) if self.at_tail else iter(self.pages)
        for page in pages:
            yield from page.intents

    def __len__(self) -> int:
        return sum(len(page.intents) for page in self.pages)

    @property
    def more_away(self) -> bool:
        return bool(self.pages) and self.pages[-1].next is not None

    @property
    def more_above(self) -> bool:
        return self.more_away if self.at_tail else bool(self.dropped)

    @property
    def more_below(self) -> bool:
        return bool(self.dropped) if self.at_tail else self.more_away

    @property
    def complete(self) -> bool:
        """Every intent the query matches is in memory."""
        return not self.more_away and not self.dropped

    @property
    def first_position(self) -> int:
        """The list position (0-based) of the top row shown."""
        skipped = sum(rows for _, rows in self.dropped)
        if self.at_tail:
            return max(self.total - skipped - len(self), 0)
        return skipped

    # ---- fetching ----------------------------------------------------------------------------

    async def open_head(self) -> None:
        self.at_tail = False
        page = await self._page(PageRequest(None, 0, self.page_size))
        self.pages, self.dropped = [page], []

    async def open_tail(self) -> None:
        """The list's last page: one request with a keyset server (the reversed sort), two
        at most by offset (the total first, when not known yet)."""
        self.at_tail = True
        if self.keyset:
            request = PageRequest(None, 0, self.page_size)
        else:
            if not self.total:
                self.total = (await self._list(PageRequest(None, 0, 1))).total
            start = max(self.total - self.page_size, 0)
            request = PageRequest(None, start, max(self.total - start, 1))
        page = await self._page(request)
        self.pages, self.dropped = [page], []

    async def extend(self) -> bool:
        """One more page away from the anchor; False at the list's end."""
        if not self.more_away:
            return False
        page = await self._page(self.pages[-1].next)  # type: ignore[arg-type]
        self._dedupe(page)
        self.pages.append(page)
        if self.max_pages is not None and len(self.pages) > self.max_pages:
            first = self.pages.pop(0)
            self.dropped.append((first.request, len(first.intents)))
        return True

    async def retreat(self) -> bool:
        """Re-read the dropped page nearest the window, toward the anchor."""
        if not self.dropped:
            return False
        request, _ = self.dropped.pop()
        page = await self._page(request)
        self._dedupe(page)
        self.pages.insert(0, page)
        if self.max_pages is not None and len(self.pages) > self.max_pages:
            self.pages.pop()  # the far page: its request is the new last page's `next`
        return True

    async def _list(self, request: PageRequest) -> IntentList:
        sort = None
        if self.keyset:
            sort = REVERSED[self.query.sort] if self.at_tail else self.query.sort
        self.requests += 1
        return await self.client.list_intents(
            status=self.query.status,
            q=self.query.q or None,
            limit=request.limit,
            offset=request.offset,
            cursor=request.cursor,
            sort=sort,
        )

    async def _page(self, request: PageRequest) -> Page:
        listed = await self._list(request)
        self.total = listed.total
        intents = list(listed.intents)
        following: PageRequest | None
        if self.keyset:
            if self.at_tail:
                intents.reverse()
            cursor = listed.next_cursor
            following = PageRequest(cursor, 0, self.page_size) if cursor else None
        elif self.at_tail:  # offset paging upward from the end
            start = max(request.offset - self.page_size, 0)
            following = PageRequest(None, start, request.offset - start) if request.offset else None
        else:
            end = listed.next_offset
            if end is None and intents and request.offset + len(intents) < listed.total:
                end = request.offset + len(intents)
            following = PageRequest(None, end, self.page_size) if end is not None else None
        return Page(request, intents, following)

    def _dedupe(self, page: Page) -> None:
        # An intent created since the window opened shifts offset pages by one: shown once.
        shown = {intent.id for intent in self.intents()}
        page.intents = [intent for intent in page.intents if intent.id not in shown]

    # ---- live changes ------------------------------------------------------------------------

    def _covers(self, top: bool) -> bool:
        """Whether the window reaches the list's top (or bottom) edge."""
        if not self.pages:
            return False
        at_anchor_side = top != self.at_tail
        return not self.dropped if at_anchor_side else not self.more_away

    def _edge_page(self, top: bool) -> Page:
        return self.pages[0] if top != self.at_tail else self.pages[-1]

    def _find(self, intent_id: str) -> tuple[Page, int] | None:
        for page in self.pages:
            for i, intent in enumerate(page.intents):
                if intent.id == intent_id:
                    return page, i
        return None

    def merge(self, intent: Intent, *, created: bool) -> None:
        """Fold one intent read after a live event into the window: a new one enters at
        its edge (newest first: the top), a changed one is updated in place or, when sorted
        by update time, moves to its edge; one that no longer matches leaves."""
        found = self._find(intent.id)
        matches = self.query.matches(intent)
        if found is not None:
            page, index = found
            if not matches:
                del page.intents[index]
                self.total = max(self.total - 1, 0)
                return
            if self.query.changes_move_to_top is None:
                page.intents[index] = intent
                return
            del page.intents[index]
            self._place(intent, top=self.query.changes_move_to_top)
            return
        if not matches:
            return
        if created:
            self.total += 1
            self._place(intent, top=self.query.sort.startswith("-"))
        elif (top := self.query.changes_move_to_top) is not None:
            self._place(intent, top=top)  # an older intent now at an edge: shown if it is

    def _place(self, intent: Intent, *, top: bool) -> None:
        if not self._covers(top):
            return  # beyond what is held: the count changed, the row shows when paged to
        page = self._edge_page(top)
        if top:
            page.intents.insert(0, intent)
        else:
            page.intents.append(intent)
