"""The line at the bottom of every screen, and the breadcrumbs at the top.

Both pull from the app (context, server, connection state, read-only, operator, event rate)
on a half-second tick, so a countdown like "reconnecting in 3 s" stays current without the
stream having to push every second.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Static

from .filter_line import FilterLine

CONNECTION_STYLES = {
    "live": ("● live", "bold green"),
    "connecting": ("◌ connecting", "yellow"),
    "reconnecting": ("◌ reconnecting", "bold yellow"),
    "offline": ("○ offline", "bold red"),
    "unavailable": ("○ no live stream", "yellow"),
}


class StatusBar(Static):
    DEFAULT_CSS = """
    StatusBar {
        height: 1;
        background: $panel;
        color: $text;
        padding: 0 1;
    }
    """

    def on_mount(self) -> None:
        self.set_interval(0.5, self.refresh)

    def render(self) -> Text:
        app: Any = self.app
        view = getattr(app, "status_view", None)
        if view is None:
            return Text("")
        state = view()
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f" {state['context']} ", style=f"bold reverse {state['color']}")
        text.append(f" {state['server']}  ", style="dim")
        label, style = CONNECTION_STYLES.get(state["connection"], (state["connection"], ""))
        if state["connection"] == "reconnecting" and state["retry_in"] is not None:
            label = f"{label} in {state['retry_in']} s"
        text.append(label, style=style)
        if state.get("error"):
            text.append(f" ({state['error']})", style="dim")
        if state["stale"]:
            text.append(" (data may be stale)", style="yellow")
        if state.get("intent_stream"):  # the open intent's own stream, where there is no other
            label, style = CONNECTION_STYLES.get(
                state["intent_stream"], (state["intent_stream"], "")
            )
            text.append("  this intent ", style="dim")
            text.append(label, style=style)
        text.append("  ")
        if state["read_only"]:
            text.append(" READ-ONLY ", style="bold reverse red")
            text.append("  ")
        text.append(f"operator {state['operator']}", style="cyan")
        text.append(f"  {state['rate']:.1f} ev/s", style="dim")
        return text


class Crumbs(Static):
    """`Intents > Leases > Intent: title` from the screen stack; esc walks back along it."""

    DEFAULT_CSS = """
    Crumbs {
        dock: top;
        height: 1;
        background: $boost;
        color: $text-muted;
        padding: 0 1;
    }
    """

    def on_mount(self) -> None:
        self.set_interval(0.5, self.refresh)

    def render(self) -> Text:
        app: Any = self.app
        parts = [getattr(screen, "crumb", "") for screen in app.screen_stack]
        parts = [p for p in parts if p]
        text = Text(no_wrap=True, overflow="ellipsis")
        for i, part in enumerate(parts):
            if i:
                text.append(" › ", style="dim")  # noqa: RUF001
            text.append(part, style="bold" if i == len(parts) - 1 else "")
        # "/ filter" only where `/` filters; esc clears an applied filter before going back.
        filters = self.screen.query(FilterLine)
        filtered = any(line.value for line in filters)
        hint = "    ? help  : command" + ("  / filter" if filters else "")
        hint += "  esc clear filter" if filtered else "  esc back"
        text.append(hint, style="dim")
        return text
