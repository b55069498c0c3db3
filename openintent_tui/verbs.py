"""The console's verbs, defined once. The `:` line runs them (`run_verb`), the ctrl+p palette
lists them (`commands.py`), the `:` line completes them (`VerbSuggester`) and `?` explains
them (`screens/help.py`), all from `VERBS` below.

    :intents status=active     :open ID     :ctx prod     :q
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import msgspec
from textual.suggester import Suggester

from backend.domain.lifecycle import STATUSES
from backend.wire.oap import CHAIN_STATUSES

from .client.api import Capabilities

if TYPE_CHECKING:
    from .app import OpenIntentApp


class Invocation(msgspec.Struct, frozen=True):
    """`intents status=active` -> verb "intents", args [], options {"status": "active"}."""

    verb: str
    args: list[str] = msgspec.field(default_factory=list)
    options: dict[str, str] = msgspec.field(default_factory=dict)
    text: str = ""


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


PaletteEntry = tuple[str, str]
"""(title shown in the palette, the verb text it runs)."""


class Verb(msgspec.Struct, frozen=True):
    name: str
    help: str
    run: Callable[[OpenIntentApp, Invocation], None]
    aliases: tuple[str, ...] = ()
    usage: str = ""
    """What follows the name in `?` help and the `:` line's hint, e.g. `ID`."""
    binding: str | None = None
    """The id of the key binding that does the same (its key is shown, remaps applied)."""
    needs: Callable[[Capabilities], bool] | None = None
    """The capability it needs: without it the view still opens and says it is unavailable."""
    palette: tuple[PaletteEntry, ...] = ()
    suggest: Callable[[OpenIntentApp], list[PaletteEntry]] | None = None
    """Palette entries from the session: contexts, intents."""
    options: tuple[str, ...] = ()
    """The `name=value` options it takes; any other is refused with this list."""
    hint: bool = True
    """Shown in the `:` line's placeholder."""
    listed: bool = True
    """Listed among the verbs in `?` help (not when it only repeats a key listed there)."""

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    def usable(self, capabilities: Capabilities) -> bool:
        return self.needs is None or self.needs(capabilities)


# ---- what each verb does -------------------------------------------------------------------


def _quit(app: OpenIntentApp, _: Invocation) -> None:
    app.exit()


def _intents(app: OpenIntentApp, call: Invocation) -> None:
    status = call.options.get("status")
    if status is not None and status not in STATUSES:
        app.notify(
            f"Unknown status {status!r} in :intents (allowed: {', '.join(STATUSES)})",
            severity="warning",
        )
        return
    text = None
    if "q" in call.options or call.args:
        text = call.options.get("q") or " ".join(call.args)
    app.show_intents(status, text)


def _open(app: OpenIntentApp, call: Invocation) -> None:
    if not call.args:
        app.notify(
            ":open needs an intent id: the full id, its first characters, or the short id"
            " shown on screen",
            severity="warning",
        )
    else:
        app.open_intent_ref(call.args[0])


def _leases(app: OpenIntentApp, _: Invocation) -> None:
    from .screens.leases import LeasesScreen

    app.show_view(LeasesScreen())


def _arbitration(app: OpenIntentApp, _: Invocation) -> None:
    from .screens.arbitration import ArbitrationScreen

    app.show_view(ArbitrationScreen())


def _portfolios(app: OpenIntentApp, _: Invocation) -> None:
    from .screens.portfolios import PortfoliosScreen

    app.show_view(PortfoliosScreen())


def _oap_agents(app: OpenIntentApp, _: Invocation) -> None:
    from .screens.oap_agents import OapAgentsScreen

    app.show_view(OapAgentsScreen())


def _chains(app: OpenIntentApp, call: Invocation) -> None:
    from .screens.chains import ChainsScreen

    status = call.options.get("status")
    if status is not None and status not in CHAIN_STATUSES:
        app.notify(
            f"No chain status {status!r} (allowed: {', '.join(CHAIN_STATUSES)})",
            severity="warning",
        )
        return
    app.show_view(ChainsScreen(status))


def _activity(app: OpenIntentApp, _: Invocation) -> None:
    from .screens.activity import ActivityScreen

    app.show_view(ActivityScreen())


def _overview(app: OpenIntentApp, _: Invocation) -> None:
    from .screens.overview import OverviewScreen

    app.show_view(OverviewScreen())


def _events(app: OpenIntentApp, call: Invocation) -> None:
    from .screens.events import EventFilter, EventsScreen

    # Unknown options were refused by `mistake` from the table row's `options`.
    if call.args:
        app.notify(
            f":events takes no bare words (got {', '.join(call.args)}; use type=, actor=, intent=)",
            severity="warning",
        )
        return
    app.show_view(EventsScreen(EventFilter(**call.options)))


def _graph(app: OpenIntentApp, call: Invocation) -> None:
    from .screens.graph import GraphScreen

    intent_id = call.args[0] if call.args else app.current_intent_id()
    if not intent_id:
        app.notify(":graph needs an intent id (or an intent selected)", severity="warning")
        return
    app.push_screen(GraphScreen(intent_id))


def _peers(app: OpenIntentApp, _: Invocation) -> None:
    from .screens.peers import PeersScreen

    app.show_view(PeersScreen())


def _dispatches(app: OpenIntentApp, call: Invocation) -> None:
    from .screens.dispatches import DispatchesScreen

    direction = "in" if "in" in call.args or call.options.get("direction") == "in" else "out"
    app.show_view(DispatchesScreen(direction))


def _context(app: OpenIntentApp, call: Invocation) -> None:
    if not call.args:
        known = ", ".join(sorted(app.contexts)) or "none configured"
        app.notify(f":ctx needs a context name (known: {known})", severity="warning")
        return
    app.switch_context(call.args[0])


def _help(app: OpenIntentApp, _: Invocation) -> None:
    app.action_help()


def _reconnect(app: OpenIntentApp, _: Invocation) -> None:
    app.action_reconnect()


def _contexts(app: OpenIntentApp) -> list[PaletteEntry]:
    return [(f"Switch context: {name}", f"ctx {name}") for name in sorted(app.contexts)]


def _known_intents(app: OpenIntentApp) -> list[PaletteEntry]:
    return [
        (f"Open intent: {intent.title}", f"open {intent.id}") for intent in app.listed_intents()
    ]


VERBS: tuple[Verb, ...] = (
    Verb(
        "intents",
        "intents list, optionally filtered",
        _intents,
        aliases=("intent", "i"),
        usage="[status=S] [q=TEXT]",
        options=("status", "q"),
        binding="app.view_intents",
        palette=(
            ("Intents: all", "intents"),
            *((f"Intents: status={s}", f"intents status={s}") for s in STATUSES),
        ),
    ),
    Verb("open", "open an intent", _open, aliases=("o",), usage="ID", suggest=_known_intents),
    Verb(
        "leases",
        "all active leases",
        _leases,
        aliases=("lease", "l"),
        binding="app.view_leases",
        palette=(("Leases", "leases"),),
    ),
    Verb(
        "arb",
        "arbitration queue",
        _arbitration,
        aliases=("arbitration", "arbitrations", "a"),
        binding="app.view_arbitration",
        needs=lambda can: can.arbitration_queue,
        palette=(("Arbitration queue", "arb"),),
    ),
    Verb(
        "portfolios",
        "portfolios",
        _portfolios,
        aliases=("portfolio", "p"),
        binding="app.view_portfolios",
        palette=(("Portfolios", "portfolios"),),
    ),
    Verb(
        "agents",
        "OAP agent registry: register, ping, remove",
        _oap_agents,
        aliases=("oap",),
        needs=lambda can: can.agent_routing,
        palette=(("Agents: OAP registry", "agents"),),
    ),
    Verb(
        "chains",
        "OAP chains: hops, envelope, resume, cancel",
        _chains,
        aliases=("chain", "runs"),
        usage="[status=S]",
        options=("status",),
        needs=lambda can: can.agent_routing,
        palette=(
            ("Chains: all", "chains"),
            *((f"Chains: status={s}", f"chains status={s}") for s in CHAIN_STATUSES),
        ),
    ),
    Verb(
        "activity",
        "what this console changed in this session",
        _activity,
        aliases=("log",),
        binding="app.view_activity",
        palette=(("Activity: what I did here", "activity"),),
        hint=False,
    ),
    Verb(
        "overview",
        "the fleet at a glance: counts, events/s, failures, expiring leases, budgets",
        _overview,
        aliases=("pulses", "pulse", "ov"),
        binding="app.view_overview",
        palette=(("Overview: counts, rates, what needs attention", "overview"),),
    ),
    Verb(
        "events",
        "the server's event log, live",
        _events,
        aliases=("ev",),
        usage="[type=T] [actor=A] [intent=ID]",
        options=("type", "actor", "intent"),
        binding="app.view_events",
        needs=lambda can: can.global_stream,
        palette=(("Events: the live log of the whole server", "events"),),
    ),
    Verb(
        "graph",
        "an intent's parent, dependencies and children as a tree",
        _graph,
        aliases=("xray", "tree"),
        usage="[ID]",
        hint=False,
    ),
    Verb(
        "peers",
        "federation peers: key, trust, reachability",
        _peers,
        aliases=("peer", "federation", "fed"),
        binding="app.view_peers",
        needs=lambda can: can.federation,
        palette=(("Federation: peers", "peers"),),
    ),
    Verb(
        "dispatches",
        "intents sent to peers (out) or received (in)",
        _dispatches,
        aliases=("dispatch", "disp"),
        usage="[in]",
        options=("direction",),
        binding="app.view_dispatches",
        needs=lambda can: can.federation,
        palette=(
            ("Federation: dispatches sent", "dispatches"),
            ("Federation: dispatches received", "dispatches in"),
        ),
    ),
    Verb(
        "ctx",
        "switch context",
        _context,
        aliases=("context",),
        usage="NAME",
        suggest=_contexts,
    ),
    Verb(
        "help",
        "every key",
        _help,
        aliases=("h",),
        binding="app.help",
        palette=(("Help: every key", "help"),),
        hint=False,
        listed=False,
    ),
    Verb(
        "reconnect",
        "reconnect the live stream now",
        _reconnect,
        binding="app.reconnect",
        palette=(("Reconnect the live stream", "reconnect"),),
        hint=False,
        listed=False,
    ),
    Verb("q", "quit", _quit, aliases=("quit", "q!"), palette=(("Quit", "q"),)),
)

BY_NAME: dict[str, Verb] = {name: verb for verb in VERBS for name in verb.names}


def find(text: str) -> tuple[Verb | None, Invocation]:
    name, args, options = parse_verb(text)
    return BY_NAME.get(name), Invocation(name, args, options, text)


def mistake(verb: Verb, call: Invocation) -> str | None:
    """What is wrong with `call`'s options, saying what is allowed; None when nothing is."""
    unknown = [key for key in call.options if key not in verb.options]
    if not unknown:
        return None
    names = ", ".join(f"{key}=" for key in unknown)
    if not verb.options:
        return f":{verb.name} takes no options (got {names})"
    allowed = ", ".join(f"{key}=" for key in verb.options)
    return f":{verb.name} has no option {names} (allowed: {allowed})"


def placeholder(prefix: str = ":") -> str:
    """The `:` line's hint: the verbs to type, with their arguments' first example."""
    parts = []
    for verb in VERBS:
        if not verb.hint:
            continue
        if verb.name == "intents":
            parts.append(f"{prefix}intents status=active")
        else:
            parts.append(f"{prefix}{verb.name}{' ' + verb.usage if verb.usage else ''}")
    return " · ".join(parts)


def palette_entries(app: OpenIntentApp) -> Iterator[tuple[str, str, Verb]]:
    """(title, verb text, verb) for the palette: the static entries, then the session's."""
    for verb in VERBS:
        for title, text in verb.palette:
            yield title, text, verb
    for verb in VERBS:
        if verb.suggest is not None:
            for title, text in verb.suggest(app):
                yield title, text, verb


class VerbSuggester(Suggester):
    """Completes the `:` line: a verb's name, then a context's name or a known status."""

    def __init__(self, app: OpenIntentApp) -> None:
        super().__init__(use_cache=False, case_sensitive=False)
        self.app = app

    def candidates(self) -> Iterator[str]:
        for verb in VERBS:
            yield verb.name
            for _, text in verb.palette:
                yield text
        for name in sorted(self.app.contexts):
            yield f"ctx {name}"

    async def get_suggestion(self, value: str) -> str | None:
        if not value:
            return None
        for candidate in self.candidates():
            if candidate.casefold().startswith(value) and len(candidate) > len(value):
                return candidate
        return None
