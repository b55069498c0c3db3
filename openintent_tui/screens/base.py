"""What every console screen shares: chrome (crumbs, status bar, footer, `:` line),
read-only gating of mutating actions, and one way to run a request and report its result."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer

from ..client.errors import ClientError, Unavailable
from ..messages import Resynced
from ..modals.confirm import ConfirmModal
from ..modals.lease_grant import LeaseGrant
from ..widgets.command_line import CommandLine
from ..widgets.status_bar import Crumbs, StatusBar
from .data import call

if TYPE_CHECKING:
    from ..app import OpenIntentApp


class ConsoleScreen(Screen):
    crumb: str = ""
    MUTATING_ACTIONS: ClassVar[frozenset[str]] = frozenset()
    """Actions hidden in read-only mode (k9s drops its 'dangerous' keys the same way)."""

    @property
    def console(self) -> OpenIntentApp:
        return self.app  # type: ignore[return-value]

    @property
    def client(self) -> Any:
        return self.console.client

    def compose(self) -> ComposeResult:
        yield Crumbs()
        yield from self.compose_body()
        # One docked container: widgets docked to the same edge would overlap.
        with Vertical(id="chrome"):
            yield CommandLine()
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
        return not (action in self.MUTATING_ACTIONS and self.console.read_only)

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
            return "unavailable on this server"
        return getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"

    async def request_grant(self, grant: LeaseGrant) -> Any | None:
        """Acquire a lease for `grant.agent_id` (sent as its X-Agent-ID); toasts the result."""
        lease = await self.mutate(
            f"Grant {grant.scope} to {grant.agent_id}",
            lambda: call(
                self.client,
                "acquire_lease",
                grant.intent_id,
                grant.scope,
                grant.duration_seconds,
                agent_id=grant.agent_id,
            ),
            done=f"Granted {grant.scope} to {grant.agent_id} for {grant.duration_seconds} s",
        )
        if lease is not None:
            self.console.remember_intent(grant.intent_id)
            holder = getattr(lease, "agent_id", grant.agent_id)
            if holder != grant.agent_id:  # the reference ignores X-Agent-ID
                self.notify(
                    f"This server recorded the holder of {grant.scope} as {holder}, "
                    f"not {grant.agent_id}",
                    severity="warning",
                    timeout=8,
                )
        return lease

    def notify_error(self, exc: BaseException, what: str) -> None:
        if isinstance(exc, Unavailable):
            self.notify(f"{what}: unavailable on this server", severity="warning")
        elif isinstance(exc, ClientError):
            self.notify(f"{what} failed: {exc.message}", severity="error", timeout=8)
        else:
            self.notify(f"{what} failed: {type(exc).__name__}: {exc}", severity="error")

    async def mutate(
        self,
        what: str,
        call: Callable[[], Awaitable[Any]],
        *,
        done: str | None = None,
    ) -> Any | None:
        """Run one mutating request: refuse in read-only mode, toast the outcome, never raise."""
        if self.console.read_only:
            self.notify("Read-only mode: nothing was changed", severity="warning")
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


async def optional(call: Awaitable[Any]) -> tuple[Any, str | None]:
    """`(value, None)`, or `(None, why)` when the server lacks the endpoint or refuses."""
    try:
        return await call, None
    except Unavailable:
        return None, "unavailable on this server"
    except ClientError as exc:
        return None, exc.message
