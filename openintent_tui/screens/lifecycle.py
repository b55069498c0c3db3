"""Changing an intent's lifecycle status from the keyboard, shared by the intents list and the
intent detail: pick one of the statuses the server allows next, confirm a final one, send it at
the version on screen (If-Match), and re-read the intent whatever the outcome."""

from __future__ import annotations

from textual import work

from backend.domain.lifecycle import STATUSES, TRANSITIONS
from backend.wire.intents import Intent

from ..client.errors import ConflictError
from ..modals.pick import Choice, PickModal
from .base import ConsoleScreen
from .format import STATUS_STYLES

TITLE_WIDTH = 40


def next_statuses(current: str) -> list[str]:
    """The statuses the server accepts after `current`, in lifecycle order (the server's own
    rule, so the picker never offers what would be refused)."""
    allowed = TRANSITIONS.get(current, frozenset())
    return [status for status in STATUSES if status in allowed]


def is_final(status: str) -> bool:
    """Completed and abandoned: nothing can follow them, so they are confirmed first."""
    return status in TRANSITIONS and not TRANSITIONS[status]


def quoted(title: str) -> str:
    short = title if len(title) <= TITLE_WIDTH else title[: TITLE_WIDTH - 1] + "…"
    return f"“{short}”"


def stale_version(exc: ConflictError, seen: int) -> ConflictError:
    """The 409 for a stale If-Match, in words an operator can act on."""
    now = f" (now version {exc.current_version})" if exc.current_version is not None else ""
    return ConflictError(
        exc.status,
        f"it changed since you saw version {seen}{now}; reloaded, check it and try again",
        exc.body,
        current_version=exc.current_version,
    )


def status_picker(intent: Intent) -> PickModal:
    choices = [
        Choice(
            status,
            note="final: no status can follow it" if is_final(status) else "",
            style=STATUS_STYLES.get(status, ""),
        )
        for status in next_statuses(intent.status)
    ]
    return PickModal(
        f"Status of {quoted(intent.title)}: now {intent.status}, version {intent.version}",
        choices,
        hint="Only the statuses the lifecycle allows next are listed.",
    )


class IntentActionsScreen(ConsoleScreen):
    """A screen showing intents whose status the operator may change (`c`)."""

    def intent_changed(self, intent_id: str, fresh: Intent | None = None) -> None:
        """After a change was sent: show `fresh` (the server's answer) at once, or re-read
        the intent when the change was refused (a stale version above all)."""
        self.reload()

    def change_status(self, intent: Intent) -> None:
        """`c`: the picker of next statuses for `intent` as shown (its version is the If-Match)."""
        if not next_statuses(intent.status):
            why = "a final status" if is_final(intent.status) else "an unknown status"
            self.notify(
                f"{quoted(intent.title)} is {intent.status} ({why}): no status can follow",
                severity="warning",
            )
            return

        def picked(status: str | None) -> None:
            if status is None:
                return
            if not is_final(status):
                self.send_status(intent, status)
                return
            self.confirm_then(
                f"Mark {quoted(intent.title)} {status}?\n"
                f"{status.capitalize()} is final: its status can never change again.",
                f"Mark {status}",
                lambda: self.send_status(intent, status),
            )

        self.app.push_screen(status_picker(intent), picked)

    async def _send_status(self, intent: Intent, status: str) -> Intent:
        try:
            return await self.client.set_status(intent.id, intent.version, status)
        except ConflictError as exc:
            raise stale_version(exc, intent.version) from exc

    @work(group="status-change", exit_on_error=False)
    async def send_status(self, intent: Intent, status: str) -> None:
        fresh = await self.mutate(
            f"Set {quoted(intent.title)} to {status}",
            lambda: self._send_status(intent, status),
            done=f"{quoted(intent.title)}: {intent.status} → {status}",
        )
        self.intent_changed(intent.id, fresh)
