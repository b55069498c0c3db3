"""No keystroke lost: keys typed while a screen is being pushed, mounted or loaded reach that
screen, in order.

Why Textual alone loses them: the App forwards a key to whatever is focused *when it handles
the key*, and bindings are resolved when the key bubbles back up to the App, against the screen
on top *then*. What a key starts is only queued by that time: `push_screen` has put an
unmounted screen on the stack, `focus()` is a callback in the App's queue, a table's `enter` is a
`Selected` message the screen has not handled yet, and the rows are still on the wire. So a fast
`3 enter` sends `enter` to a screen with nothing focused and no rows, and `enter 2` resolves `2`
against the queue (switch view) before the case screen exists.

The gate lets one key through at a time:
- after a key, it waits until what the key started has settled: a marker walks the focus path
  (focused widget, its ancestors, the screen, the App) through each node's message queue, and
  rounds repeat until one finds every queue on the path empty and the same screen on top
  (so a pushed screen is mounted and focused, a posted `Selected` has been handled);
- a screen must be mounted; a console screen still loading its data holds the keys that act on
  that data (everything but the App's own keys: `:`, `?`, esc, the view digits…), for at most
  `DATA_WAIT` seconds, so a server that never answers cannot swallow the keyboard.
Held keys keep their order: once one key is held, every later key queues behind it.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from textual import events
from textual.dom import DOMNode
from textual.message_pump import MessagePump
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Input

if TYPE_CHECKING:
    from textual.app import App

DATA_WAIT = 5.0
"""Longest a key waits for a screen's data; then it goes to the screen as it is."""
HOLD_WAIT = 10.0
"""Longest a key waits for a request under `hold` (a server that never answers)."""
MAX_ROUNDS = 20
"""Settling rounds before a key is let through anyway (a widget that never stops posting)."""
POLL_SECONDS = 0.01
UNGATED = frozenset({"ctrl+q", "ctrl+c"})
"""Quit and its hint act at once, whatever is queued."""


class KeyGate:
    """Owned by the App: `admit(key)` in `on_event` before Textual routes it; `tick` polls."""

    def __init__(self, app: App, dispatch: Callable[[events.Key], Awaitable[None]]) -> None:
        self.app = app
        self.dispatch = dispatch
        """Textual's own routing of one key (the App's `on_event`)."""
        self.ticks = time.monotonic  # real time even where a test freezes the app's clock
        self.held: deque[tuple[events.Key, float]] = deque()
        self.settling = False
        self.pending = 0
        """Requests whose answer changes screens (`hold`): keys wait for them."""
        self._pending_since = 0.0
        self._rounds = 0
        self.timer: Timer | None = None
        """The App's poll of `tick`, running only while keys are held."""

    # ---- entry points -----------------------------------------------------------------------

    def admit(self, event: events.Key) -> bool:
        """True: route `event` now (then call `routed`). False: it is held, in order."""
        if event.key in UNGATED:
            return True
        if self.held or self.settling or not self._ready_for(event.key, self.ticks()):
            self.held.append((event, self.ticks()))
            if self.timer is not None:
                self.timer.resume()  # polls readiness only while keys wait
            return False
        return True

    def routed(self) -> None:
        """A key was just routed: hold the next until what it started has settled."""
        self.settling = True
        self._rounds = 0
        self._start_round()

    def hold(self) -> None:
        """Before a request whose answer pushes or pops a screen (`:open` checking an id, a
        decision being recorded): keys typed meanwhile wait and go to the screen it leads to.
        Taken when the request is started, not when its worker runs: the next key may
        already be queued by then. Every `hold` is ended by one `unhold`."""
        if not self.pending:
            self._pending_since = self.ticks()
        self.pending += 1

    def unhold(self) -> None:
        self.pending = max(self.pending - 1, 0)
        if not self.pending and self.held and not self.settling:
            self.routed()  # settle what the answer started, then release

    async def tick(self) -> None:
        """Let held keys through once the screen is ready (mounted, loaded, or waited on
        long enough)."""
        await self._release()

    # ---- readiness ----------------------------------------------------------------------------

    def _ready_for(self, key: str, held_since: float) -> bool:
        screen = self.app.screen
        if self.pending and self.ticks() - self._pending_since < HOLD_WAIT:
            return False
        if not screen.is_mounted:
            return False
        if self._screen_ready(screen) or self._is_app_key(key):
            return True
        if isinstance(self.app.focused, Input):
            return True  # typing into a field needs no data
        return self.ticks() - held_since > DATA_WAIT

    @staticmethod
    def _screen_ready(screen: Screen) -> bool:
        ready = getattr(screen, "ready_for_keys", True)
        return bool(ready)

    def _is_app_key(self, key: str) -> bool:
        """Keys the App itself binds (with the user's keymap) work on any screen, loaded or
        not; the rest act on what the screen shows."""
        for namespace, bindings in self.app.screen._binding_chain:
            if namespace is self.app:
                return key in bindings.key_to_bindings
        return False

    async def _release(self) -> None:
        while self.held and not self.settling:
            event, since = self.held[0]
            if not self._ready_for(event.key, since):
                return
            self.held.popleft()
            await self.dispatch(event)
            self.routed()
        if not self.held and self.timer is not None:
            self.timer.pause()

    # ---- settling -------------------------------------------------------------------------------

    def _start_round(self) -> None:
        self._rounds += 1
        start: DOMNode = self.app.focused or self.app.screen
        path: list[MessagePump] = list(start.ancestors_with_self)
        self._visit(path, 0, True, self.app.screen)

    def _visit(self, path: list[MessagePump], index: int, clean: bool, top: Screen) -> None:
        """Run at node `index - 1`, after everything queued there before it: pass the
        marker on to the next node, noting whether that node still has work queued."""
        if index == len(path):
            self.app.call_later(self._round_done, clean and self.app.screen is top)
            return
        node = path[index]
        # The App's own queue is drained by the marker's last hop (FIFO); its timers would
        # make every round look busy.
        busy = node is not self.app and not node._message_queue.empty()
        if node is self.app or not node.call_later(
            self._visit, path, index + 1, clean and not busy, top
        ):
            self._visit(path, index + 1, clean and not busy, top)

    async def _round_done(self, clean: bool) -> None:
        if not clean and self._rounds < MAX_ROUNDS:
            self._start_round()
            return
        self.settling = False
        await self._release()
