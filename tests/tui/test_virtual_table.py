"""The virtual table's model: filter, sort, cursor and live upserts, at sizes DataTable cannot."""

from __future__ import annotations

from textual.app import App, ComposeResult

from openintent_tui.widgets.virtual_table import Column, Row, VirtualTable

COLUMNS = [Column("status", "STATUS", 8), Column("title", "TITLE", 20), Column("n", "N", 6)]


def rows(count: int) -> list[Row]:
    statuses = ("active", "blocked", "done")
    return [
        Row(f"id-{i}", (statuses[i % 3], f"task {i}", str(i)), (statuses[i % 3], f"task {i}", i))
        for i in range(count)
    ]


class TableApp(App):
    def compose(self) -> ComposeResult:
        yield VirtualTable(COLUMNS, id="t")


async def test_filter_sort_and_cursor_follow_the_row():
    app = TableApp()
    async with app.run_test(size=(60, 12)) as pilot:
        table = app.query_one(VirtualTable)
        table.set_rows(rows(100_000))
        assert table.row_count == 100_000
        table.focus()
        await pilot.press("j", "j")
        assert table.cursor_key == "id-2"

        table.set_filter("TASK 9999")  # case-insensitive substring in any column
        assert [r.key for r in table.visible_rows] == [
            "id-9999",
            *(f"id-9999{d}" for d in range(10)),
        ]
        table.move_to("id-99995")
        table.set_filter("")
        assert table.row_count == 100_000
        assert table.cursor_key == "id-99995"  # the cursor stayed on its row
        table.move_to("id-2")

        table.sort_by("n")
        table.sort_by("n")  # again: descending
        assert table.visible_rows[0].key == "id-99999"
        assert table.cursor_key == "id-2"

        table.set_row_filter(lambda row: row.values[0] == "blocked")
        assert table.row_count == 33_333
        assert all(r.cells[0] == "blocked" for r in table.visible_rows[:50])


async def test_keys_move_the_cursor_and_scroll_it_into_view():
    app = TableApp()
    async with app.run_test(size=(60, 12)) as pilot:
        table = app.query_one(VirtualTable)
        table.set_rows(rows(1000))
        table.focus()
        await pilot.press("G")
        assert table.cursor == 999
        await pilot.pause()
        assert table.scroll_y > 900  # the last row is on screen
        assert "task 999" in "".join(table.render_line(y).text for y in range(1, 12))
        await pilot.press("g")
        assert table.cursor == 0 and table.scroll_y == 0
        await pilot.press("pagedown")
        assert table.cursor > 1
        await pilot.press("k")
        assert table.cursor > 0


async def test_upsert_and_remove_keep_the_cursor_on_its_key():
    app = TableApp()
    async with app.run_test(size=(60, 12)) as pilot:
        table = app.query_one(VirtualTable)
        table.set_rows(rows(10))
        table.sort_by("n")
        table.focus()
        await pilot.press("j", "j", "j")
        assert table.cursor_key == "id-3"
        table.upsert([Row("id-new", ("active", "first", "-1"), ("active", "first", -1))])
        assert table.visible_rows[0].key == "id-new"
        assert table.cursor_key == "id-3"
        table.remove(["id-3"])
        assert table.get_row("id-3") is None and table.cursor_key is not None


async def test_enter_posts_selected_and_empty_text_renders():
    selected: list[str] = []

    class Watch(TableApp):
        def on_virtual_table_selected(self, message: VirtualTable.Selected) -> None:
            selected.append(message.key)

    app = Watch()
    async with app.run_test(size=(60, 12)) as pilot:
        table = app.query_one(VirtualTable)
        table.empty_text = "nothing"
        assert "nothing" in table.render_line(1).text
        assert "STATUS" in table.render_line(0).text
        table.set_rows(rows(3))
        table.focus()
        await pilot.press("j", "enter")
        assert selected == ["id-1"]
