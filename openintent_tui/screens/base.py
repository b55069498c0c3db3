"""What every console screen shares: chrome (crumbs, status bar, footer, `:` line),
read-only gating of mutating actions, and one way to run a request and report its result."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar, TypeVar, cast

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer

from backend.wire.leases import Lease

from ..client.api import ServerAPI
from ..client.errors import ClientError, Unavailable
from ..messages import Resynced
from ..modals.confirm import ConfirmModal
from ..modals.lease_grant import LeaseGrant
from ..verbs import VerbSuggester
from ..widgets.command_line import CommandLine
from ..widgets.status_bar import Crumbs, StatusBar

if TYPE_CHECKING:
    from ..app import OpenIntentApp

T = TypeVar("T")

UNAVAILABLE = "unavailable on this server"


class ConsoleScreen(Screen):
    crumb: str = ""
    BINDINGS = [Binding("d", "describe", "Describe", id="screen.describe")]
    MUTATING_ACTIONS: ClassVar[frozenset[str]] = frozenset()
    """Actions hidden in read-only mode (k9s drops its 'dangerous' keys the same way)."""
    CAPABILITY_ACTIONS: ClassVar[dict[str, str]] = {}
    """Action -> the `Capabilities` field it needs: hidden on a server without it."""

    @property
    def console(self) -> OpenIntentApp:
        return cast("OpenIntentApp", self.app)

    @property
    def client(self) -> ServerAPI:
        return self.console.client

    async def connected(self) -> ServerAPI:
        """The client once the server's dialect is known: loads start with this."""
        return await self.console.connected()

    def compose(self) -> ComposeResult:
        yield Crumbs()
        yield from self.compose_body()
        # One docked container: widgets docked to the same edge would overlap.
        with Vertical(id="chrome"):
            yield CommandLine(suggester=VerbSuggester(self.console))
            yield StatusBar()
            yield Footer()

    def compose_body(self) -> ComposeResult:
        return iter(())

    def set_crumb(self, text: str) -> None:
        """Rename this screen in the breadcrumbs now, not at the crumbs' next tick."""
        self.crumb = text
        for crumbs in self.app.screen.query(Crumbs):
            crumbs.refresh()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "describe" and type(self).describe_target is ConsoleScreen.describe_target:
            return False  # nothing to describe on this screen: no `d` in its footer
        if action in self.MUTATING_ACTIONS and self.console.read_only:
            return False
        needed = self.CAPABILITY_ACTIONS.get(action)
        return needed is None or bool(getattr(self.client.capabilities, needed))

    @property
    def ready_for_keys(self) -> bool:
        """False while the first load runs: the key gate (`key_gate.py`) holds the keys that
        act on this screen's data until then. Screens with a `loaded` flag or event use it."""
        loaded = getattr(self, "loaded", True)
        return loaded.is_set() if isinstance(loaded, asyncio.Event) else bool(loaded)

    dirty = False
    """Something shown changed on the server; the next tick re-reads it."""

    def reload(self) -> None:
        """Re-read everything shown (after a reconnect, `r`, or a change seen in the stream)."""

    def action_reload(self) -> None:
        self.reload()

    def resync(self) -> None:
        """The stream is live again after a gap: by default, re-read everything."""
        self.reload()

    @on(Resynced)
    def _resync_after_reconnect(self) -> None:
        self.resync()

    def reload_when_dirty(self, seconds: float) -> None:
        """Coalesce stream-driven reloads to one per `seconds`, and none while hidden."""
        self.set_interval(seconds, self._reload_if_dirty)

    def _reload_if_dirty(self) -> None:
        if self.dirty and self.is_current:
            self.dirty = False
            self.reload()

    @staticmethod
    def problem(exc: BaseException) -> str:
        """What to show in place of data that could not be read."""
        if isinstance(exc, Unavailable):
            return UNAVAILABLE
        if isinstance(exc, ClientError):
            return exc.message or f"{type(exc).__name__}: {exc}"
        return f"{type(exc).__name__}: {exc}"

    async def request_grant(self, grant: LeaseGrant) -> Lease | None:
        """Acquire a lease for `grant.agent_id` (sent as its X-Agent-ID); toasts the result."""
        lease = await self.mutate(
            f"Grant {grant.scope} to {grant.agent_id}",
            lambda: self.client.acquire_lease(
                grant.intent_id, grant.scope, grant.duration_seconds, agent_id=grant.agent_id
            ),
            done=f"Granted {grant.scope} to {grant.agent_id} for {grant.duration_seconds} s",
        )
        if lease is not None:
            self.console.remember_intent(grant.intent_id)
            holder = lease.agent_id
            if holder != grant.agent_id:  # a server that ignores X-Agent-ID (the reference)
                self.notify(
                    f"This server recorded the holder of {grant.scope} as {holder}, "
                    f"not {grant.agent_id}",
                    severity="warning",
                    timeout=8,
                )
        return lease

    def notify_error(self, exc: BaseException, what: str) -> None:
        if isinstance(exc, Unavailable):
            self.notify(f"{what}: {UNAVAILABLE}", severity="warning")
        elif isinstance(exc, ClientError):
            self.notify(f"{what} failed: {exc.message}", severity="error", timeout=8)
        else:
            self.notify(f"{what} failed: {type(exc).__name__}: {exc}", severity="error")

    async def mutate(
        self,
        what: str,
        call: Callable[[], Awaitable[T]],
        *,
        done: str | None = None,
        available: bool = True,
    ) -> T | None:
        """Run one mutating request: refuse in read-only mode, toast the outcome, never raise.
        `available=False` (a capability this server lacks) refuses without a request."""
        if self.console.read_only:
            self.notify("Read-only mode: nothing was changed", severity="warning")
            return None
        if not available:
            self.notify(f"{what}: {UNAVAILABLE}", severity="warning")
            self.console.audit(what, error=UNAVAILABLE)
            return None
        try:
            result = await call()
        except Exception as exc:  # a failed request must never take the console down
            self.notify_error(exc, what)
            self.console.audit(what, error=self.problem(exc))
            return None
        self.notify(done or f"{what}: done")
        self.console.audit(done or what)
        return result

    def confirm_then(self, question: str, yes: str, then: Callable[[], object]) -> None:
        """Destructive actions ask first: `then()` runs only when the answer is yes."""

        def answered(confirmed: bool | None) -> None:
            if confirmed:
                then()

        self.app.push_screen(ConfirmModal(question, yes=yes), answered)

    def copy_id(self, value: str | None) -> None:
        """`y`: the selected id to the clipboard (OSC 52; some terminals ignore it)."""
        if not value:
            self.notify("Nothing selected", severity="warning")
            return
        self.app.copy_to_clipboard(value)
        self.notify(f"Copied {value}")

    def now(self) -> datetime:
        return self.console.clock()

    def describe_target(self) -> tuple[str, object, str | None] | None:
        """(kind, object, id) of what `d` shows in full here: the selected row by default."""
        return None

    def action_describe(self) -> None:
        from .describe import DescribeScreen

        target = self.describe_target()
        if target is None:
            self.notify("Nothing selected to describe", severity="warning")
            return
        kind, obj, object_id = target
        self.app.push_screen(DescribeScreen(kind, obj, object_id))


async def unavailable() -> tuple[None, str]:
    """What `optional` gives for a call the server's capabilities rule out."""
    return None, UNAVAILABLE


async def optional_read(read: Callable[[], Awaitable[T]]) -> tuple[T | None, str | None]:
    """`optional(read())`, the read made only once this runs: a load cancelled by a newer
    one before its gathered reads start leaves no client call never awaited."""
    return await optional(read())


async def optional(call: Awaitable[T]) -> tuple[T | None, str | None]:
    """`(value, None)`, or `(None, why)` when the server lacks the endpoint or refuses."""
    try:
        return await call, None
    except Unavailable:
        return None, UNAVAILABLE
    except ClientError as exc:
        return None, exc.message
