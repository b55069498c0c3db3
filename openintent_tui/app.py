"""The console: global keys, navigation with breadcrumbs, the live stream, the status line."""

from __future__ import annotations

import asyncio
import time
import weakref
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import events, work
from textual.app import App
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen

from backend.wire.events import Event
from backend.wire.intents import Intent

from .client import ConnectionState, EventStream, OpenIntentClient
from .client.api import ServerAPI
from .client.connect import detect
from .client.errors import ClientError
from .commands import ConsoleCommands
from .contexts import ConnectionInfo
from .key_gate import POLL_SECONDS, KeyGate
from .messages import ConnectionChanged, EventsReceived, Resynced
from .pulse import Pulse
from .screens.activity import AuditEntry
from .screens.base import ConsoleScreen
from .screens.help import HelpScreen
from .screens.intents import IntentsScreen
from .verbs import VERBS, find, mistake
from .widgets.command_line import CommandLine
from .widgets.filter_line import FilterLine
from .widgets.status_bar import StatusBar

if TYPE_CHECKING:
    from .screens.intent_detail import IntentDetailScreen

FLUSH_SECONDS = 0.05
RATE_WINDOW = 10.0
AUDIT_SIZE = 200
KNOWN_INTENTS = 200


def utc_now() -> datetime:
    return datetime.now(UTC)


class OpenIntentApp(App):
    """`OpenIntentApp(connection, read_only=..., keymap=..., contexts=...)`; `connection` is a
    `contexts.ConnectionInfo` (name, url, api_key, operator, read_only, color)."""

    TITLE = "openintent"
    # Absolute, so subclasses defined elsewhere (tests, scripts) find it too.
    CSS_PATH = Path(__file__).with_name("app.tcss")
    COMMANDS = App.COMMANDS | {ConsoleCommands}

    BINDINGS = [
        Binding("colon", "command_line", "Command", id="app.command"),
        Binding("question_mark", "help", "Help", id="app.help"),
        Binding("escape", "back", "Back", show=False, id="app.back"),
        Binding("q", "back_or_quit", "Back/Quit", show=False, id="app.quit"),
        Binding("1", "view('intents')", "Intents", show=False, id="app.view_intents"),
        Binding("2", "view('leases')", "Leases", show=False, id="app.view_leases"),
        Binding("3", "view('arb')", "Arbitration", show=False, id="app.view_arbitration"),
        Binding("4", "view('portfolios')", "Portfolios", show=False, id="app.view_portfolios"),
        Binding("5", "view('overview')", "Overview", show=False, id="app.view_overview"),
        Binding("6", "view('events')", "Events", show=False, id="app.view_events"),
        Binding("7", "view('peers')", "Peers", show=False, id="app.view_peers"),
        Binding("8", "view('dispatches')", "Dispatches", show=False, id="app.view_dispatches"),
        Binding("at", "view('activity')", "Activity", show=False, id="app.view_activity"),
        Binding("R", "reconnect", "Reconnect", show=False, id="app.reconnect"),
    ]

    # Tests and snapshots replace these to freeze time.
    clock: Callable[[], datetime] = staticmethod(utc_now)
    ticks: Callable[[], float] = staticmethod(time.monotonic)

    def __init__(
        self,
        connection: ConnectionInfo,
        *,
        read_only: bool = False,
        keymap: dict[str, str] | None = None,
        contexts: dict[str, ConnectionInfo] | None = None,
        stream: bool = True,
    ) -> None:
        super().__init__()
        self.contexts = dict(contexts or {})
        self.forced_read_only = read_only
        self.use_stream = stream
        self.connection = connection
        self.client: ServerAPI = self._make_client(connection)
        """Native until `connect()` has read the server's discovery document."""
        self._connected = asyncio.Event()
        self._detected = False
        self.connection_state = "connecting"
        self.connection_error: str | None = None
        self.retry_at: float | None = None
        self.stale = True
        self._pending: list[Event] = []
        self._arrivals: deque[tuple[float, int]] = deque()
        self._stream: EventStream | None = None
        self._was_live = False
        self.audit_log: deque[AuditEntry] = deque(maxlen=AUDIT_SIZE)
        self.toasts: deque[tuple[str, str]] = deque(maxlen=AUDIT_SIZE)
        self.events_seen = 0
        self.pulse = Pulse()
        """The last minutes of the stream, for the overview's sparklines."""
        self.last_global_sequence = 0
        self.known_intents: dict[str, None] = {}
        """Intents opened or granted on this session, newest last: what the console can
        still show on a server that cannot list them (the reference)."""
        self._followed: weakref.WeakSet[Screen] = weakref.WeakSet()
        self.key_gate = KeyGate(self, super().on_event)
        if keymap:
            self.set_keymap(keymap)

    # ---- connection -------------------------------------------------------------------

    @property
    def read_only(self) -> bool:
        return self.forced_read_only or self.connection.read_only

    @property
    def operator(self) -> str:
        return self.connection.operator or "operator"

    def _make_client(self, connection: ConnectionInfo) -> ServerAPI:
        return OpenIntentClient(
            connection.url, connection.api_key, agent_id=connection.operator or "operator"
        )

    async def connected(self) -> ServerAPI:
        """The client, once its dialect is known (at once after the first connect attempt,
        even a failed one: screens then show why they cannot load)."""
        await self._connected.wait()
        return self.client

    def key_label(self, binding: Binding) -> str:
        """How a binding's key(s) read, the user's remap applied."""
        keys = self._keymap.get(binding.id) if binding.id else None  # the user's remap wins
        raw = keys or binding.key
        return ", ".join(self.get_key_display(Binding(k.strip(), "")) for k in raw.split(","))

    def key_for(self, binding_id: str) -> str | None:
        """The key label of the app binding `binding_id`, or None when there is none."""
        for binding in self.BINDINGS:
            if isinstance(binding, Binding) and binding.id == binding_id:
                return self.key_label(binding)
        return None

    def status_view(self) -> dict[str, Any]:
        retry_in = None
        if self.retry_at is not None:
            retry_in = max(0, round(self.retry_at - self.ticks()))
        return {
            "context": self.connection.name,
            "color": self.connection.color or "blue",
            "server": self.connection.url,
            "connection": self.connection_state,
            "error": self.connection_error
            if self.connection_state in ("offline", "unavailable")
            else None,
            "retry_in": retry_in,
            "stale": self.stale and self.connection_state not in ("live", "connecting"),
            "read_only": self.read_only,
            "operator": self.operator,
            "rate": self.event_rate(),
            # Without a global stream, an open intent follows its own (`_follow_open_intents`).
            "intent_stream": self._own_stream_state(),
        }

    def _own_stream_state(self) -> str | None:
        from .screens.intent_detail import IntentDetailScreen

        screen = self.screen
        return screen.own_stream_state if isinstance(screen, IntentDetailScreen) else None

    def event_rate(self) -> float:
        now = self.ticks()
        while self._arrivals and now - self._arrivals[0][0] > RATE_WINDOW:
            self._arrivals.popleft()
        return sum(n for _, n in self._arrivals) / RATE_WINDOW

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: Any = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Toasts carry server text, which must never be parsed as markup (a `[` in an error
        message would otherwise raise); every toast is also kept in `toasts`."""
        self.toasts.append((severity, message))
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    def audit(self, what: str, error: str | None = None) -> None:
        """Log a mutation and its outcome for the `@` activity view."""
        self.audit_log.append(
            AuditEntry(
                at=self.clock().astimezone().strftime("%H:%M:%S"),
                context=self.connection.name,
                what=what,
                error=error,
            )
        )

    # ---- lifecycle ----------------------------------------------------------------------

    async def on_event(self, event: events.Event) -> None:
        """Keys from the terminal pass the key gate (`key_gate.py`): none is lost or reaches
        a screen that is not ready for it."""
        if isinstance(event, events.Key) and not event.is_forwarded:
            if self.key_gate.admit(event):
                await super().on_event(event)
                self.key_gate.routed()
            return
        await super().on_event(event)

    def on_mount(self) -> None:
        self.key_gate.timer = self.set_interval(POLL_SECONDS, self.key_gate.tick, pause=True)
        self.push_screen(IntentsScreen())
        self.set_interval(FLUSH_SECONDS, self._flush_events)
        if not self.use_stream:
            self.connection_state = "unavailable"
        self.connect()

    async def on_unmount(self) -> None:
        try:
            await self.client.aclose()
        except Exception:
            pass

    @work(exclusive=True, group="connect", exit_on_error=False)
    async def connect(self) -> None:
        """Find the server's dialect (its discovery document), then start the stream. A
        server that does not answer yet keeps the native client; the stream's first answer
        brings this back (`_on_stream_state`)."""
        client = self.client
        try:
            dialect = await detect(client)
        except Exception:  # no answer (ConnectionLost) or none that can be read: native
            dialect = client
        else:
            self._detected = True
        changed = dialect is not client
        self.client = dialect
        loaded_before = self._connected.is_set()
        self._connected.set()
        if changed and loaded_before:  # those screens asked in the wrong dialect
            for screen in self.screen_stack:
                if isinstance(screen, ConsoleScreen):
                    screen.reload()
        self.refresh_bindings()  # keys that need a capability (federation) show now
        if self.use_stream and (changed or self._stream is None):
            self.run_stream()

    @work(exclusive=True, group="stream", exit_on_error=False)
    async def run_stream(self) -> None:
        """One worker for the global stream; exclusive, so a context switch replaces it."""
        stream = EventStream(self.client, on_state=self._on_stream_state)
        self._stream = stream
        async for event in stream.events():
            self._pending.append(event)

    def _on_stream_state(self, state: ConnectionState) -> None:
        previous = self.connection_state
        self.connection_state = state.state
        self.connection_error = state.error
        self.retry_at = self.ticks() + state.retry_in if state.retry_in is not None else None
        if state.state == "live":
            self.stale = False
            if self._was_live and previous != "live":
                self._broadcast(Resynced)
            self._was_live = True
        elif state.state in ("reconnecting", "offline"):
            self.stale = True
        if not self._detected and state.state in ("live", "unavailable"):
            self.connect()  # the server answers now: its dialect can be read
        if state.state == "unavailable":
            self._follow_open_intents()
        self._broadcast(lambda: ConnectionChanged(state.state, state.retry_in))
        for screen in self.screen_stack:  # show the change now, not at the next tick
            for bar in screen.query(StatusBar):
                bar.refresh()

    def _broadcast(self, make: Callable[[], Message]) -> None:
        # A message is handled once, so each screen gets its own instance.
        for screen in self.screen_stack:
            if isinstance(screen, ConsoleScreen):
                screen.post_message(make())

    def _flush_events(self) -> None:
        """Hand queued stream events to the screens, at most every 50 ms."""
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        self.events_seen += len(batch)
        self.last_global_sequence = max(
            self.last_global_sequence, max(e.global_sequence for e in batch)
        )
        self._arrivals.append((self.ticks(), len(batch)))
        self.pulse.record(batch, self.clock().timestamp())
        for screen in self.screen_stack:
            if isinstance(screen, ConsoleScreen):
                screen.post_message(EventsReceived(batch))

    def action_reconnect(self) -> None:
        if self._stream is not None:
            self._stream.reconnect_now()
        self.notify("Reconnecting…")

    # ---- navigation ---------------------------------------------------------------------

    def action_command_line(self) -> None:
        try:
            self.screen.query_one(CommandLine).open()
        except Exception:
            pass

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    async def action_back(self) -> None:
        """esc: clear the screen's applied `/` filter first (as esc in the filter line does),
        then go back."""
        for line in self.screen.query(FilterLine):
            if line.value:
                line.action_clear_filter()
                return
        if len(self.screen_stack) > 2:
            self.pop_screen()

    def action_help_quit(self) -> None:
        """ctrl+c: Textual's hint, in plain text (our toasts never parse markup)."""
        self.notify("ctrl+c does not quit: press ctrl+q, or :q", title="Do you want to quit?")

    def action_back_or_quit(self) -> None:
        if len(self.screen_stack) > 2:
            self.pop_screen()
        else:  # on the root, a stray `q` must not end the session: ask (`:q` does not)
            from .modals.confirm import ConfirmModal

            def answered(quit_now: bool | None) -> None:
                if quit_now:
                    self.exit()

            self.push_screen(ConfirmModal("Quit openintent?", yes="Quit"), answered)

    def action_view(self, name: str) -> None:
        self.run_verb(name)

    def _to_root(self) -> IntentsScreen:
        while len(self.screen_stack) > 2:
            self.pop_screen()
        root = self.screen_stack[-1]
        assert isinstance(root, IntentsScreen)
        return root

    def show_view(self, screen: Screen) -> None:
        """Top-level views sit directly above the intents list, so esc returns there."""
        self._to_root()
        self.push_screen(screen)

    def remember_intent(self, intent_id: str) -> None:
        new = intent_id not in self.known_intents
        self.known_intents.pop(intent_id, None)
        self.known_intents[intent_id] = None
        while len(self.known_intents) > KNOWN_INTENTS:
            del self.known_intents[next(iter(self.known_intents))]
        root = self.screen_stack[1] if len(self.screen_stack) > 1 else None
        if new and isinstance(root, IntentsScreen) and root.unavailable:
            root.reload()  # a server that cannot list: the list shows the intents opened

    def matching_intents(self, ref: str) -> list[str]:
        """Ids this console knows (listed, or opened this session) that `ref` names: the id
        itself, else every id it begins or ends (the short id shown is the tail)."""
        root = self.screen_stack[1] if len(self.screen_stack) > 1 else None
        listed = root.intents if isinstance(root, IntentsScreen) else {}
        ids = {i.lower(): i for i in [*listed, *self.known_intents]}
        ref = ref.strip().lower()
        if ref in ids:
            return [ids[ref]]
        return [i for low, i in ids.items() if low.startswith(ref) or low.endswith(ref)]

    def open_intent_ref(self, ref: str) -> None:
        """`:open REF`: open the one intent `ref` names; refuse (with why) when none or
        several do, never opening a screen for an id that does not exist."""
        from .screens.format import short_id

        matches = self.matching_intents(ref)
        if len(matches) == 1:
            self.open_intent(matches[0])
        elif matches:
            shown = ", ".join(short_id(i) for i in matches[:5])
            more = f" and {len(matches) - 5} more" if len(matches) > 5 else ""
            self.notify(
                f"{len(matches)} intents match {ref!r} ({shown}{more}): type more of the id",
                severity="warning",
            )
        else:
            self.key_gate.hold()  # keys typed meanwhile go to the intent, if it opens
            self._open_if_found(ref)

    @work(group="open", exit_on_error=False)
    async def _open_if_found(self, ref: str) -> None:
        """An id the console has not seen: ask the server before opening anything."""
        try:
            client = await self.connected()
            try:
                intent = await client.get_intent(ref)
            except Exception as exc:
                why = exc.message if isinstance(exc, ClientError) else type(exc).__name__
                self.notify(f"No intent {ref!r}: {why}", severity="warning")
                return
            self.open_intent(intent.id)
        finally:
            self.key_gate.unhold()

    def open_intent(self, intent_id: str) -> None:
        from .screens.intent_detail import IntentDetailScreen

        self.remember_intent(intent_id)
        self.push_screen(IntentDetailScreen(intent_id))
        if self.connection_state == "unavailable":
            self.call_after_refresh(self._follow_open_intents)

    def _follow_open_intents(self) -> None:
        """A server without the global stream (`capabilities.global_stream`) may still stream
        one intent: each open intent follows its own, in a worker that ends with its screen."""
        from .screens.intent_detail import IntentDetailScreen

        for screen in self.screen_stack:
            if (
                isinstance(screen, IntentDetailScreen)
                and screen.is_attached
                and screen not in self._followed
            ):
                self._followed.add(screen)
                screen.run_worker(
                    self._intent_events(screen),
                    group="intent-stream",
                    exit_on_error=False,
                )

    async def _intent_events(self, screen: IntentDetailScreen) -> None:
        def on_state(state: ConnectionState) -> None:
            screen.own_stream_state = state.state

        stream = EventStream(self.client, intent_id=screen.intent_id, on_state=on_state)
        async for event in stream.events():
            self._pending.append(event)

    def run_verb(self, text: str) -> None:
        """`:` verbs and palette commands, from `verbs.VERBS`."""
        verb, call = find(text)
        if verb is None:
            known = ", ".join(f":{v.name}" for v in VERBS if v.hint or v.listed)
            self.notify(f"Unknown command: {text} (try {known}, or ? for help)", severity="warning")
        elif (wrong := mistake(verb, call)) is not None:
            self.notify(wrong, severity="warning")
        else:
            verb.run(self, call)

    def show_intents(self, status: str | None, text: str | None = None) -> None:
        """Back to the intents list, filtered by `status` and, when given, `text`."""
        root = self._to_root()
        root.apply_status(status)
        if text is not None:
            line = root.query_one(FilterLine)  # shown and cleared by esc like a typed filter
            line.value = text
            line.set_class(bool(text), "-open")
            root.apply_text(text)

    def current_intent_id(self) -> str | None:
        """The intent the current screen is about, or has selected (for `:graph`)."""
        screen = self.screen
        intent_id = getattr(screen, "intent_id", None)
        if isinstance(intent_id, str):
            return intent_id
        if isinstance(screen, IntentsScreen):
            return screen.table.cursor_key
        return None

    def listed_intents(self, limit: int = 2000) -> list[Intent]:
        """The intents the list holds now (for the palette's "Open intent" entries)."""
        root = self.screen_stack[1] if len(self.screen_stack) > 1 else None
        if not isinstance(root, IntentsScreen):
            return []
        return list(root.intents.values())[:limit]

    def on_command_line_run(self, message: CommandLine.Run) -> None:
        self.run_verb(message.text)

    def switch_context(self, name: str) -> None:
        if name not in self.contexts:
            known = ", ".join(sorted(self.contexts)) or "none configured"
            self.notify(f"No context {name!r} (known: {known})", severity="warning")
            return
        old_client = self.client
        self.connection = self.contexts[name]
        self.client = self._make_client(self.connection)
        self._connected.clear()
        self._detected = False
        self._stream = None
        self.connection_state = "connecting"
        self._was_live = False
        self._pending.clear()
        self._close_later(old_client)
        root = self._to_root()
        root.intents.clear()
        root.last_activity.clear()
        root.reload()  # waits for the new server's dialect
        self.connect()
        self.refresh_bindings()
        self.notify(f"Switched to context {name} ({self.connection.url})")

    @work(group="close", exit_on_error=False)
    async def _close_later(self, client: ServerAPI) -> None:
        await client.aclose()
