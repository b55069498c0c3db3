"""A Line-API table over a Python list: filter, sort and cursor live in the model.

DataTable needs ~14 s to load 100k rows (see notes/tui.md); this renders only the visible
lines, so loading, filtering and sorting cost one pass over a list.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

import msgspec
from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.timer import Timer

REBUILD_DELAY = 0.5
PREFETCH_ROWS = 20
"""A window onto a longer list asks for more when the cursor or the view comes this close
to the edge of the rows held."""


class Column(NamedTuple):
    key: str
    label: str
    width: int
    """The least this column needs; cells wider than their column are cut with "…"."""
    fmt: Callable[[Any], str] | None = None
    """Draw from the row's sort value at render time (e.g. "3m ago", which must tick)."""
    priority: int = 1
    """1 = always shown; on a narrow terminal the highest numbers are dropped first, so a
    column is hidden whole rather than clipped to nothing."""
    flex: bool = False
    """Takes the width left over (a title grows on a wide terminal). Without any flex
    column the last one takes it."""


def fit_columns(columns: Sequence[Column], total: int, hidden: frozenset[str]) -> list[int]:
    """Each column's width for `total` cells (0 = not drawn): hidden columns are left out,
    then the lowest-priority ones while the rest do not fit, then spare width goes to the
    flex columns (or the last one)."""
    shown = [i for i, c in enumerate(columns) if c.key not in hidden]
    if not shown:  # every column toggled off: show the first rather than nothing
        shown = [0]

    def needed(indices: list[int]) -> int:
        return sum(columns[i].width for i in indices) + max(len(indices) - 1, 0)

    while needed(shown) > total and len(shown) > 1:
        droppable = [i for i in shown if columns[i].priority > 1]
        if not droppable:
            break
        # The least important goes first; among equals, the rightmost.
        shown.remove(max(droppable, key=lambda i: (columns[i].priority, i)))
    widths = [0] * len(columns)
    for i in shown:
        widths[i] = columns[i].width
    spare = total - needed(shown)
    if spare > 0:
        growing = [i for i in shown if columns[i].flex] or [shown[-1]]
        share, extra = divmod(spare, len(growing))
        for n, i in enumerate(growing):
            widths[i] += share + (1 if n < extra else 0)
    return widths


class Row(msgspec.Struct, gc=False):
    """One line of the table. `values` are what sorting compares (default: the cells);
    `cells` what is drawn. A Struct without GC tracking: building 100k of these costs
    less than half of what a plain class does (bench/README.md)."""

    key: str
    cells: tuple[str, ...]
    values: tuple[Any, ...] | None = None
    style: str = ""
    haystack: str | None = None
    """Lower-cased cells, filled in by the first text filter that needs it."""


def _sort_key(index: int) -> Callable[[Row], tuple[bool, Any]]:
    # None sorts last whatever the direction; mixed types are not expected per column.
    def key(row: Row) -> tuple[bool, Any]:
        value = (row.values or row.cells)[index]
        return (value is None, value if value is not None else 0)

    return key


class VirtualTable(ScrollView, can_focus=True):
    """Rows are keyed by a string id; `upsert` keeps the cursor on the same row."""

    BINDINGS = [
        Binding("j,down", "cursor_down", "Down", show=False, id="table.down"),
        Binding("k,up", "cursor_up", "Up", show=False, id="table.up"),
        Binding("g,home", "cursor_top", "Top", show=False, id="table.top"),
        Binding("G,end", "cursor_bottom", "Bottom", show=False, id="table.bottom"),
        Binding("pagedown,ctrl+d", "page_down", "Page down", show=False, id="table.page_down"),
        Binding("pageup,ctrl+u", "page_up", "Page up", show=False, id="table.page_up"),
        Binding("enter", "select", "Open", id="table.open"),
        Binding("s", "pick_sort", "Sort", show=False, id="table.sort"),
        Binding("C", "pick_columns", "Columns", show=False, id="table.columns"),
    ]

    COMPONENT_CLASSES = {
        "virtual-table--header",
        "virtual-table--cursor",
        "virtual-table--empty",
    }

    DEFAULT_CSS = """
    VirtualTable {
        overflow-x: hidden;
        height: 1fr;
    }
    VirtualTable > .virtual-table--header {
        text-style: bold;
        color: $text-accent;
        background: $surface;
    }
    VirtualTable > .virtual-table--cursor {
        background: $block-cursor-blurred-background;
    }
    VirtualTable:focus > .virtual-table--cursor {
        background: $block-cursor-background;
        color: $block-cursor-foreground;
    }
    VirtualTable > .virtual-table--empty {
        color: $text-muted;
        text-style: italic;
    }
    """

    cursor = reactive(0, always_update=True)

    class Selected(Message):
        """Enter on a row."""

        def __init__(self, table: VirtualTable, key: str) -> None:
            super().__init__()
            self.table = table
            self.key = key

        @property
        def control(self) -> VirtualTable:
            return self.table

    class TableMessage(Message):
        def __init__(self, table: VirtualTable) -> None:
            super().__init__()
            self.table = table

        @property
        def control(self) -> VirtualTable:
            return self.table

    class Changed(TableMessage):
        """The rows shown changed (after a rebuild): counts that read `row_count` redraw."""

    class EdgeWanted(TableMessage):
        """`g`/`G` when the rows held are a window onto a longer list (`more_above` /
        `more_below`): the owner fetches that end of the list and moves the cursor there."""

        def __init__(self, table: VirtualTable, top: bool) -> None:
            super().__init__(table)
            self.top = top

    class NeedsRows(TableMessage):
        """The cursor or the view is near the edge of the rows held, and the list goes on
        past it (`more_above` / `more_below`): the owner fetches the next page that way."""

        def __init__(self, table: VirtualTable, top: bool) -> None:
            super().__init__(table)
            self.top = top

    class Highlighted(Message):
        def __init__(self, table: VirtualTable, key: str | None) -> None:
            super().__init__()
            self.table = table
            self.key = key

        @property
        def control(self) -> VirtualTable:
            return self.table

    def __init__(
        self,
        columns: Sequence[Column],
        *,
        empty_text: str = "Nothing here.",
        status_styles: dict[str, str] | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.columns = list(columns)
        self._formatted = any(column.fmt for column in self.columns)
        self.empty_text = empty_text
        self._rows: dict[str, Row] = {}
        self._view: list[Row] = []
        self._index: dict[str, int] | None = None
        self.filter_text = ""
        self.row_filter: Callable[[Row], bool] | None = None
        self.sort_column: int | None = None
        self.sort_reverse = False
        self.stale = False
        self.more_above = False
        self.more_below = False
        """The rows are a window onto a longer list, which goes on above / below."""
        self._rebuild_timer: Timer | None = None
        self._rich_styles: dict[str, Style] = {}
        self._status_styles = status_styles or {}
        self.hidden_columns: frozenset[str] = frozenset()
        """Columns the user toggled off (`C`)."""

    # ---- model -------------------------------------------------------------------------

    @property
    def row_count(self) -> int:
        """Rows after filtering."""
        return len(self._view)

    @property
    def total_count(self) -> int:
        return len(self._rows)

    @property
    def visible_rows(self) -> list[Row]:
        return self._view

    def rows(self) -> Iterable[Row]:
        return self._rows.values()

    def get_row(self, key: str) -> Row | None:
        return self._rows.get(key)

    @property
    def cursor_key(self) -> str | None:
        if 0 <= self.cursor < len(self._view):
            return self._view[self.cursor].key
        return None

    def set_rows(self, rows: Iterable[Row]) -> None:
        """Replace every row (a reload); the cursor stays on the same key when it survives."""
        keep = self.cursor_key
        self._rows = {row.key: row for row in rows}
        self._rebuild(keep)

    def upsert(self, rows: Iterable[Row], *, defer: bool = False) -> None:
        """Add or replace rows. With `defer`, rows already shown change in place at once and
        the re-sort/re-filter waits up to REBUILD_DELAY, so a stream of updates costs one
        rebuild per half second instead of one per batch (100k rows: ~0.1 s each)."""
        if not defer:
            keep = self.cursor_key
            for row in rows:
                self._rows[row.key] = row
            self._rebuild(keep)
            return
        index = self._key_index()
        needs_rebuild = (
            self.sort_column is not None or bool(self.filter_text) or (self.row_filter is not None)
        )
        for row in rows:
            self._rows[row.key] = row
            position = index.get(row.key)
            if position is None:
                needs_rebuild = True
            else:
                self._view[position] = row
        self.refresh()
        if needs_rebuild and self._rebuild_timer is None:
            self._rebuild_timer = self.set_timer(REBUILD_DELAY, self._deferred_rebuild)

    def _deferred_rebuild(self) -> None:
        self._rebuild_timer = None
        self._rebuild(self.cursor_key)

    def remove(self, keys: Iterable[str]) -> None:  # type: ignore[override]  # rows, not self
        keep = self.cursor_key
        for key in keys:
            self._rows.pop(key, None)
        self._rebuild(keep)

    def set_filter(self, text: str) -> None:
        keep = self.cursor_key
        self.filter_text = text
        self._rebuild(keep)

    def set_row_filter(self, predicate: Callable[[Row], bool] | None) -> None:
        """A structured filter (e.g. status=active) applied before the text filter."""
        keep = self.cursor_key
        self.row_filter = predicate
        self._rebuild(keep)

    def sort_by(self, column_key: str, reverse: bool | None = None) -> None:
        """Sort by a column; asking again for the same column flips the direction."""
        index = next(i for i, c in enumerate(self.columns) if c.key == column_key)
        if reverse is None:
            reverse = not self.sort_reverse if self.sort_column == index else False
        keep = self.cursor_key
        self.sort_column, self.sort_reverse = index, reverse
        self._rebuild(keep)

    @property
    def sort_key(self) -> str | None:
        return self.columns[self.sort_column].key if self.sort_column is not None else None

    def toggle_column(self, column_key: str) -> None:
        """Show or hide a column (`C`); the others share the width it frees."""
        self.hidden_columns = self.hidden_columns ^ {column_key}
        self.refresh()

    def column_widths(self, total: int | None = None) -> list[int]:
        """Each column's drawn width now (0 = dropped or hidden)."""
        width = self.scrollable_content_region.width if total is None else total
        return fit_columns(self.columns, width, self.hidden_columns)

    def column_at(self, x: int) -> str | None:
        """The key of the column drawn at cell `x` (for a click on the header)."""
        start = 0
        for column, width in zip(self.columns, self.column_widths(), strict=True):
            if width and start <= x < start + width + 1:
                return column.key
            start += width + 1 if width else 0
        return None

    def action_pick_sort(self) -> None:
        from ..modals.pick import Choice, PickModal

        choices = []
        for i, column in enumerate(self.columns):
            note = ""
            if self.sort_column == i:
                note = "▼ now (pick again for ▲)" if self.sort_reverse else "▲ now (pick again: ▼)"
            choices.append(Choice(column.key, column.label.title(), note=note))

        def picked(key: str | None) -> None:
            if key is not None:
                self.sort_by(key)

        self.app.push_screen(PickModal("Sort by", choices), picked)

    def action_pick_columns(self) -> None:
        from ..modals.pick import Choice, PickModal

        widths = self.column_widths()
        choices = []
        for column, width in zip(self.columns, widths, strict=True):
            if column.key in self.hidden_columns:
                note = "hidden (pick to show)"
            elif not width:
                note = "no room at this width"
            else:
                note = "shown (pick to hide)"
            choices.append(Choice(column.key, column.label.title(), note=note))

        def picked(key: str | None) -> None:
            if key is not None:
                self.toggle_column(key)

        self.app.push_screen(PickModal("Show or hide a column", choices), picked)

    def move_to(self, key: str) -> bool:
        index = self._key_index().get(key)
        if index is None:
            return False
        self.cursor = index
        return True

    def _key_index(self) -> dict[str, int]:
        if self._index is None:
            self._index = {row.key: i for i, row in enumerate(self._view)}
        return self._index

    def _rebuild(self, keep: str | None) -> None:
        top = round(self.scroll_y)
        # Rows added or dropped above the view (a window paging) must not move what is shown,
        # unless the view is at the very top, where new rows are expected to appear.
        top_key = self._view[top].key if 0 < top < len(self._view) else None
        cursor_shown = top <= self.cursor < top + max(self.scrollable_content_region.height, 1)
        needle = self.filter_text.lower()
        rows: list[Row] = list(self._rows.values())
        if self.row_filter is not None:
            rows = [row for row in rows if self.row_filter(row)]
        if needle:
            for row in rows:
                if row.haystack is None:
                    row.haystack = "\x1f".join(row.cells).lower()
            rows = [row for row in rows if needle in (row.haystack or "")]
        if self.sort_column is not None:
            rows.sort(key=_sort_key(self.sort_column), reverse=self.sort_reverse)
        self._view = rows
        self._index = None
        self.virtual_size = Size(self.size.width, len(rows) + 1)
        index = self._key_index()
        new_top = index.get(top_key) if top_key is not None else None
        if new_top is not None and new_top != top:
            self.scroll_to(y=new_top, animate=False, immediate=True, force=True)
        if keep is not None and keep in index:
            target = index[keep]
        elif not cursor_shown and new_top is not None:
            target = new_top  # the cursor's row was let go off-screen: the top row shown
        else:
            target = min(self.cursor, max(len(rows) - 1, 0))
        if cursor_shown:
            self.cursor = target
        else:  # the view was scrolled away from the cursor (the wheel): leave the view be
            self.set_reactive(VirtualTable.cursor, self.validate_cursor(target))
        self.refresh()
        self.post_message(self.Changed(self))

    # ---- cursor --------------------------------------------------------------------------

    def validate_cursor(self, value: int) -> int:
        return max(0, min(value, len(self._view) - 1)) if self._view else 0

    def watch_cursor(self, old: int, new: int) -> None:
        self._scroll_cursor_into_view()
        self.refresh()
        self.post_message(self.Highlighted(self, self.cursor_key))
        self._ask_for_rows()

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        self._ask_for_rows(round(new))  # the mouse wheel scrolls without moving the cursor

    def near_edge(self, top: bool, view_top: int | None = None) -> bool:
        """Whether the cursor or the view is within PREFETCH_ROWS of the rows held's top
        (or bottom) edge, with more of the list beyond it."""
        first = round(self.scroll_y) if view_top is None else view_top
        if top:
            return self.more_above and min(self.cursor, first) < PREFETCH_ROWS
        last = first + self.scrollable_content_region.height - 2
        return self.more_below and max(self.cursor, last) >= len(self._view) - PREFETCH_ROWS

    def _ask_for_rows(self, view_top: int | None = None) -> None:
        for top in (False, True):
            if self.near_edge(top, view_top=view_top):
                self.post_message(self.NeedsRows(self, top=top))
                return

    def _scroll_cursor_into_view(self) -> None:
        body = max(self.scrollable_content_region.height - 1, 1)
        top = round(self.scroll_y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True, force=True)
        elif self.cursor >= top + body:
            self.scroll_to(y=self.cursor - body + 1, animate=False, immediate=True, force=True)

    def on_resize(self) -> None:
        self.virtual_size = Size(self.size.width, len(self._view) + 1)
        self._scroll_cursor_into_view()

    def action_cursor_down(self) -> None:
        self.cursor += 1

    def action_cursor_up(self) -> None:
        self.cursor -= 1

    def action_cursor_top(self) -> None:
        if self.more_above:  # the owner moves the cursor once that end is loaded
            self.post_message(self.EdgeWanted(self, top=True))
        else:
            self.cursor = 0

    def action_cursor_bottom(self) -> None:
        if self.more_below:
            self.post_message(self.EdgeWanted(self, top=False))
        else:
            self.cursor = len(self._view) - 1

    def action_page_down(self) -> None:
        self.cursor += max(self.scrollable_content_region.height - 2, 1)

    def action_page_up(self) -> None:
        self.cursor -= max(self.scrollable_content_region.height - 2, 1)

    def action_select(self) -> None:
        if (key := self.cursor_key) is not None:
            self.post_message(self.Selected(self, key))

    def on_click(self, event: Any) -> None:
        if event.y == 0:  # the header: sort by that column (again: flip the direction)
            if (key := self.column_at(event.x)) is not None:
                self.sort_by(key)
            return
        row = round(self.scroll_y) + event.y - 1
        if 0 <= row < len(self._view):
            if row == self.cursor and event.chain > 1:
                self.action_select()
            self.cursor = row

    # ---- rendering -----------------------------------------------------------------------

    def _line(self, cells: Sequence[str], widths: list[int], style: Style) -> list[Segment]:
        segments: list[Segment] = []
        first = True
        for i, (text, width) in enumerate(zip(cells, widths, strict=False)):
            if not width:
                continue
            if not first:
                segments.append(Segment(" ", style))
            first = False
            if len(text) > width:
                text = text[: max(width - 1, 0)] + "…" if width > 1 else text[:width]
            cell_style = style
            if i == 0 and self._status_styles and text.strip() in self._status_styles:
                cell_style = style + self._cached_style(self._status_styles[text.strip()])
            segments.append(Segment(text.ljust(width), cell_style))
        return segments

    def _cached_style(self, spec: str) -> Style:
        style = self._rich_styles.get(spec)
        if style is None:
            style = self._rich_styles[spec] = Style.parse(spec)
        return style

    def empty_message(self) -> str:
        """Why no row shows: the screen's own text, unless rows exist and a filter hides
        them all (then "none match" is the truth, not "there are none")."""
        if self._rows and self.filter_text:
            return f"Nothing matches /{self.filter_text} ({len(self._rows)} hidden; esc clears)"
        return self.empty_text

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        if y == 0:
            header = self.get_component_rich_style("virtual-table--header")
            widths = self.column_widths(width)
            labels = []
            for i, column in enumerate(self.columns):
                label = column.label
                if self.sort_column == i:
                    # The arrow must show even when the label fills its column.
                    mark = " ▼" if self.sort_reverse else " ▲"
                    room = max(widths[i] - len(mark), 0) if i < len(widths) else len(label)
                    label = label if len(label) <= room else label[: max(room - 1, 0)] + "…"
                    label += mark
                labels.append(label)
            segments = self._line(labels, widths, header)
            return Strip(segments).adjust_cell_length(width, header)
        index = round(self.scroll_y) + y - 1
        if index >= len(self._view):
            lines = self.empty_message().split("\n") if not self._view else []
            if index < len(lines):  # the empty text may span lines (first-run guidance)
                empty = self.get_component_rich_style("virtual-table--empty")
                return Strip([Segment(" " + lines[index], empty)]).adjust_cell_length(width, base)
            return Strip.blank(width, base)
        row = self._view[index]
        cells = row.cells
        if self._formatted:
            cells = tuple(
                column.fmt((row.values or cells)[i]) if column.fmt else cells[i]
                for i, column in enumerate(self.columns)
            )
        style = base
        if row.style:
            style = style + self._cached_style(row.style)
        if self.stale:
            style = style + Style(dim=True)
        if index == self.cursor:
            style = style + self.get_component_rich_style("virtual-table--cursor")
        widths = self.column_widths(width)
        return Strip(self._line(cells, widths, style)).adjust_cell_length(width, style)
