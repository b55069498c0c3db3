"""`d`: one object in full (an intent, lease, arbitration, event, portfolio…), as highlighted
JSON or YAML (`f` toggles), scrollable; `y` copies its id, `Y` the JSON (k9s `describe`)."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import yaml
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.highlight import highlight
from textual.widgets import Static

from .base import ConsoleScreen


def as_data(obj: Any) -> Any:
    """Plain JSON data of a wire Struct, dict or list (what the server sent, field for field)."""
    return msgspec.to_builtins(obj)


def as_json(obj: Any) -> str:
    return json.dumps(as_data(obj), indent=2, ensure_ascii=False)


def as_yaml(obj: Any) -> str:
    return yaml.safe_dump(as_data(obj), sort_keys=False, allow_unicode=True, width=100)


class DescribeScreen(ConsoleScreen):
    BINDINGS = [
        Binding("f", "toggle_format", "JSON/YAML", id="describe.format"),
        Binding("y", "copy_id", "Copy id", id="describe.copy_id"),
        Binding("Y", "copy_json", "Copy JSON", id="describe.copy_json"),
        Binding("j,down", "scroll('down')", "Down", show=False, id="describe.down"),
        Binding("k,up", "scroll('up')", "Up", show=False, id="describe.up"),
        Binding("g,home", "scroll('home')", "Top", show=False, id="describe.top"),
        Binding("G,end", "scroll('end')", "Bottom", show=False, id="describe.bottom"),
    ]

    def __init__(self, kind: str, obj: Any, object_id: str | None = None) -> None:
        super().__init__()
        self.kind = kind
        self.obj = obj
        self.object_id = object_id
        self.format = "json"
        self.crumb = f"Describe {kind} {object_id[:8]}" if object_id else f"Describe {kind}"

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="describe"):
            yield Static(id="describe-body")

    def on_mount(self) -> None:
        self.show()
        self.query_one("#describe", VerticalScroll).focus()

    @property
    def text(self) -> str:
        """What is shown now, as text."""
        return as_yaml(self.obj) if self.format == "yaml" else as_json(self.obj)

    def show(self) -> None:
        body = self.query_one("#describe-body", Static)
        body.border_title = f"{self.kind} · {self.format.upper()} (f: {self._other()})"
        try:
            text = self.text
        except (TypeError, ValueError, yaml.YAMLError) as exc:  # never crash on odd data
            body.update(f"cannot show this {self.kind}: {exc}")
            return
        body.update(highlight(text, language=self.format))

    def _other(self) -> str:
        return "YAML" if self.format == "json" else "JSON"

    def action_toggle_format(self) -> None:
        self.format = "yaml" if self.format == "json" else "json"
        self.show()

    def action_scroll(self, where: str) -> None:
        scroll = self.query_one("#describe", VerticalScroll)
        {
            "down": scroll.scroll_down,
            "up": scroll.scroll_up,
            "home": scroll.scroll_home,
            "end": scroll.scroll_end,
        }[where](animate=False)

    def action_copy_id(self) -> None:
        self.copy_id(self.object_id)

    def action_copy_json(self) -> None:
        self.app.copy_to_clipboard(as_json(self.obj))
        self.notify(f"Copied the {self.kind} as JSON")
