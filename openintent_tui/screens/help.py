"""`?`: every key, from the bindings themselves (so remapped keys show as remapped)."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from ..verbs import VERBS

if TYPE_CHECKING:
    from ..app import OpenIntentApp


def _key_label(app: OpenIntentApp, binding: Binding) -> str:
    return app.key_label(binding)


def _section(app: OpenIntentApp, title: str, bindings: list[Binding], out: Table) -> None:
    out.add_row(Text(title, style="bold underline"), "", "")
    for binding in bindings:
        if binding.system or not binding.description:
            continue
        out.add_row(_key_label(app, binding), binding.description, Text(binding.id or "", "dim"))


def _screen_bindings(screen: Screen) -> list[Binding]:
    """The screen's own bindings, then those it inherits (`d` describe) where they apply."""
    found: dict[str, Binding] = {}
    for kind in type(screen).__mro__:
        for binding in kind.__dict__.get("BINDINGS", []):
            if isinstance(binding, Binding) and binding.key not in found:
                found[binding.key] = binding
        if kind is Screen:
            break
    return [
        b
        for b in found.values()
        if screen.check_action(b.action.partition("(")[0], ()) is not False
    ]


def help_table(app: OpenIntentApp, screen: Screen) -> Table:
    table = Table(box=None, expand=True, show_header=True, header_style="bold")
    table.add_column("key", style="bold cyan", no_wrap=True)
    table.add_column("does")
    table.add_column(Text("binding id (remap in config.toml [keys])"))
    _section(
        app,
        "This view: " + type(screen).__name__.removesuffix("Screen"),
        _screen_bindings(screen),
        table,
    )
    widgets: dict[type, list[Binding]] = {}
    for node in screen.walk_children():
        bindings = [b for b in getattr(type(node), "BINDINGS", []) if isinstance(b, Binding)]
        if (
            bindings
            and type(node) not in widgets
            and node.__class__.__module__.startswith("openintent_tui")
        ):
            widgets[type(node)] = bindings
    for kind, bindings in widgets.items():
        _section(app, kind.__name__, bindings, table)
    _section(app, "Everywhere", [b for b in app.BINDINGS if isinstance(b, Binding)], table)
    table.add_row(Text("Textual", style="bold underline"), "", "")
    table.add_row("ctrl+p", "command palette (same commands as :)", "")
    table.add_row("ctrl+q", "quit", "")
    table.add_row("tab / shift+tab", "next / previous pane", "")
    table.add_row(Text(": verbs", style="bold underline"), "", "")
    capabilities = app.client.capabilities
    for verb in VERBS:
        if not verb.listed:
            continue
        what = verb.help
        if not verb.usable(capabilities):
            what += " — unavailable on this server"
        usage = f":{verb.name}{' ' + verb.usage if verb.usage else ''}"
        table.add_row(usage, what, "")
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "close", "Close", id="help.close")]

    def __init__(self, for_screen: Screen) -> None:
        super().__init__()
        self.for_screen = for_screen

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog help"):
            self.table = help_table(cast("OpenIntentApp", self.app), self.for_screen)
            yield Static(self.table, id="help-table")

    def action_close(self) -> None:
        self.dismiss(None)
