"""The ctrl+p palette: the verbs of `verbs.VERBS`, plus the session's contexts and intents."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

from .verbs import Verb, palette_entries, parse_verb

if TYPE_CHECKING:
    from .app import OpenIntentApp

__all__ = ["ConsoleCommands", "palette_commands", "parse_verb"]


def _help_of(app: OpenIntentApp, verb: Verb, text: str) -> str:
    key = app.key_for(verb.binding) if verb.binding else None
    shown = f"{verb.help} (:{text}{', ' + key if key else ''})"
    if not verb.usable(app.client.capabilities):
        shown += " — unavailable on this server"
    return shown


def palette_commands(app: OpenIntentApp) -> list[tuple[str, str, str]]:
    """(title, verb text, help) for every palette entry."""
    return [(title, text, _help_of(app, verb, text)) for title, text, verb in palette_entries(app)]


class ConsoleCommands(Provider):
    @property
    def console(self) -> OpenIntentApp:
        return cast("OpenIntentApp", self.app)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        app = self.console
        for title, text, help_text in palette_commands(app):
            score = matcher.match(title)
            if score > 0:
                yield Hit(
                    score, matcher.highlight(title), partial(app.run_verb, text), help=help_text
                )

    async def discover(self) -> Hits:
        app = self.console
        for title, text, help_text in palette_commands(app):
            if not title.startswith("Open intent"):
                yield DiscoveryHit(title, partial(app.run_verb, text), help=help_text)
