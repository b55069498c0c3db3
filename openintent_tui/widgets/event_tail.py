"""A live event tail: bounded buffer, batched flushes, follow that pauses when you scroll up.

k9s logs froze under heavy output and fought the user's scrolling (notes/tui.md §5): here new
lines are queued and drawn at most every 50 ms, scrolling up pauses follow and a "▼ N new"
badge counts what arrived since; `G`/`F`/`end` resume.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.geometry import Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from backend.wire.events import Event

FLUSH_SECONDS = 0.05


def event_line(event: Event) -> tuple[str, str]:
    """`(text, kind)` for one wire Event; kind picks the colour."""
    created = event.created_at[11:19]
    actor = event.actor or "-"
    summary = " ".join(f"{k}={_short(v)}" for k, v in list(event.payload.items())[:4])
    line = f"{created} #{event.sequence:<4} {_fit(event.event_type, 22)} {_fit(actor, 12)}"
    return f"{line} {summary}", event.event_type


def _fit(text: str, width: int) -> str:
    """Exactly `width` cells, so the columns stay aligned whatever the name's length."""
    return text.ljust(width) if len(text) <= width else text[: width - 1] + "…"


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 40 else text[:39] + "…"


KIND_STYLES = {
    "status_changed": "bold",
    "lease_acquired": "green",
    "lease_released": "yellow",
    "arbitration_requested": "magenta",
    "decision_recorded": "magenta",
    "failure_recorded": "red",
    "governance.violation": "red",
}


class EventTail(ScrollView, can_focus=True):
    BINDINGS = [
        Binding("j,down", "line_down", "Down", show=False, id="tail.down"),
        Binding("k,up", "line_up", "Up", show=False, id="tail.up"),
        Binding("g,home", "top", "Top", show=False, id="tail.top"),
        Binding("G,F,end", "follow", "Follow", id="tail.follow"),
        Binding("pageup", "page_up_tail", "Page up", show=False, id="tail.page_up"),
        Binding("pagedown", "page_down_tail", "Page down", show=False, id="tail.page_down"),
    ]

    DEFAULT_CSS = """
    EventTail {
        height: 1fr;
        overflow-x: hidden;
        border-title-align: left;
        border-subtitle-align: right;
    }
    """

    following = reactive(True)
    unseen = reactive(0)

    def __init__(self, max_lines: int = 5000, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lines: deque[tuple[str, str]] = deque(maxlen=max_lines)
        self._order: deque[int] = deque(maxlen=max_lines)
        """Each line's sequence, so a backfill that lands after live events sorts in place."""
        self._pending: list[tuple[int, str, str]] = []
        self._seen_ids: set[str] = set()
        self._kind_styles: dict[str, Style] = {}
        self.rendered_total = 0

    def on_mount(self) -> None:
        self.set_interval(FLUSH_SECONDS, self.flush)
        self._update_badge()

    def add_events(self, events: Iterable[Event]) -> None:
        """Queue events; de-duplicates by id so a backfill after a reconnect adds no copies."""
        for event in events:
            if event.id in self._seen_ids:
                continue
            self._seen_ids.add(event.id)
            self._pending.append((event.sequence, *event_line(event)))
        if len(self._seen_ids) > 4 * (self.lines.maxlen or 5000):
            self._seen_ids = set(list(self._seen_ids)[-(self.lines.maxlen or 5000) :])

    def add_text(self, text: str, kind: str = "") -> None:
        self._pending.append((self._order[-1] if self._order else 0, text, kind))

    def flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        last = self._order[-1] if self._order else 0
        if any(0 < seq < last for seq, _, _ in batch):
            # Older events (a backfill) arrived after newer live ones: merge by sequence.
            merged = sorted(
                [*zip(self._order, self.lines, strict=True), *((b[0], b[1:]) for b in batch)],
                key=lambda item: item[0],
            )
            self._order.clear()
            self.lines.clear()
            for seq, line in merged:
                self._order.append(seq)
                self.lines.append(line)
        else:
            for seq, text, kind in batch:
                self._order.append(seq)
                self.lines.append((text, kind))
        self.rendered_total += len(batch)
        self.virtual_size = Size(self.size.width, len(self.lines))
        if self.following:
            self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True, force=True)
        else:
            self.unseen += len(batch)
        self.refresh()

    # ---- follow / pause --------------------------------------------------------------------

    def _pause(self) -> None:
        if self.following:
            self.following = False

    def action_line_up(self) -> None:
        self._pause()
        self.scroll_to(y=self.scroll_y - 1, animate=False, immediate=True, force=True)

    def action_line_down(self) -> None:
        self.scroll_to(y=self.scroll_y + 1, animate=False, immediate=True, force=True)

    def action_page_up_tail(self) -> None:
        self._pause()
        self.scroll_to(
            y=self.scroll_y - self.size.height, animate=False, immediate=True, force=True
        )

    def action_page_down_tail(self) -> None:
        self.scroll_to(
            y=self.scroll_y + self.size.height, animate=False, immediate=True, force=True
        )

    def action_top(self) -> None:
        self._pause()
        self.scroll_to(y=0, animate=False, immediate=True, force=True)

    def action_follow(self) -> None:
        self.following = True
        self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True, force=True)

    def _on_mouse_scroll_up(self, event: Any) -> None:
        self._pause()
        super()._on_mouse_scroll_up(event)

    def watch_following(self, following: bool) -> None:
        if following:
            self.unseen = 0
        self._update_badge()

    def watch_unseen(self) -> None:
        self._update_badge()

    def _update_badge(self) -> None:
        if self.following:
            self.border_subtitle = "following"
        else:
            self.border_subtitle = f"paused · ▼ {self.unseen} new (G to follow)"

    # ---- rendering ---------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        index = round(self.scroll_y) + y
        base = self.rich_style
        if index >= len(self.lines):
            if index == 0:
                return Strip([Segment(" waiting for events…", base + Style(dim=True))])
            return Strip.blank(width, base)
        text, kind = self.lines[index]
        style = base
        if spec := KIND_STYLES.get(kind):
            cached = self._kind_styles.get(spec)
            if cached is None:
                cached = self._kind_styles[spec] = Style.parse(spec)
            style = base + cached
        return Strip([Segment(text[:width], style)]).adjust_cell_length(width, base)
