"""The same commands two ways: typed `:` verbs (k9s) and the ctrl+p palette."""

from __future__ import annotations

import shlex
from functools import partial
from typing import Any

from textual.command import DiscoveryHit, Hit, Hits, Provider

from backend.domain.lifecycle import STATUSES


def parse_verb(text: str) -> tuple[str, list[str], dict[str, str]]:
    """`intents status=active` -> ("intents", [], {"status": "active"})."""
    try:
        words = shlex.split(text.strip().lstrip(":"))
    except ValueError:
        words = text.strip().lstrip(":").split()
    if not words:
        return "", [], {}
    args: list[str] = []
    options: dict[str, str] = {}
    for word in words[1:]:
        key, eq, value = word.partition("=")
        if eq:
            options[key] = value
        else:
            args.append(word)
    return words[0].lower(), args, options


def palette_commands(app: Any) -> list[tuple[str, str, str]]:
    """(title, verb, help) for every palette entry; intents and contexts come from the app."""
    commands = [
        ("Intents: all", "intents", "The intents list (:intents)"),
        *(
            (f"Intents: status={status}", f"intents status={status}", f":intents status={status}")
            for status in STATUSES
        ),
        ("Leases", "leases", "All active leases (:leases)"),
        ("Arbitration queue", "arb", "Pending arbitrations, oldest first (:arb)"),
        ("Portfolios", "portfolios", "Portfolios and their progress (:portfolios)"),
        ("Activity: what I did here", "activity", "This session's changes and refusals (@)"),
        ("Help: every key", "help", "(?)"),
        ("Reconnect the live stream", "reconnect", "(R)"),
        ("Quit", "q", "(:q)"),
    ]
    for name in sorted(getattr(app, "contexts", {}) or {}):
        commands.append((f"Switch context: {name}", f"ctx {name}", f":ctx {name}"))
    root = next((s for s in app.screen_stack if hasattr(s, "intents")), None)
    if root is not None:
        for intent in list(root.intents.values())[:2000]:
            commands.append(
                (f"Open intent: {intent.title}", f"open {intent.id}", f":open {intent.id}")
            )
    return commands


class ConsoleCommands(Provider):
    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        app: Any = self.app
        for title, verb, help_text in palette_commands(app):
            score = matcher.match(title)
            if score > 0:
                yield Hit(
                    score, matcher.highlight(title), partial(app.run_verb, verb), help=help_text
                )

    async def discover(self) -> Hits:
        app: Any = self.app
        for title, verb, help_text in palette_commands(app):
            if not title.startswith("Open intent"):
                yield DiscoveryHit(title, partial(app.run_verb, verb), help=help_text)
