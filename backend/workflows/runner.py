"""Starts workflow phases whose dependencies have completed.

Woken by commits that complete an intent, by a new workflow, and every POLL_SECONDS as a
safety net, it activates each ready phase and dispatches a `dispatch_to` phase to its peer
with `complete_on_callback`: the peer's `completed` callback completes the phase here, and
that commit wakes the runner for the phases after it. A dispatch that cannot be made (the
peer became unreachable by policy, the egress guard refuses it) blocks the phase and logs
`workflow.dispatch_failed` with the reason. Everything it reads is in the database, so a
restart picks up where it stopped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import msgspec

from ..domain.errors import DomainError
from ..federation.dispatch import create_dispatch
from ..federation.service import Federation
from ..store import Store
from ..store.federation import ReadyPhase
from ..waiting import wait_event
from ..wire.events import Event
from ..wire.federation import DelegationScope, DispatchRequest

POLL_SECONDS = 30.0
log = logging.getLogger("openintent.workflows")


def wakes_runner(events: list[Event]) -> bool:
    """A completed intent may be the last dependency of a waiting phase."""
    return any(
        e.event_type == "status_changed" and e.payload.get("new_status") == "completed"
        for e in events
    )


class WorkflowRunner:
    def __init__(
        self, store: Store, federation: Federation | None, on_dispatch: Callable[[], None]
    ) -> None:
        self.store = store
        self.federation = federation
        self.on_dispatch = on_dispatch
        self._wake = asyncio.Event()

    def on_commit(self, events: list[Event]) -> None:
        if wakes_runner(events):
            self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.step()
            except Exception:  # a bad row must not stop every later workflow
                log.exception("workflow runner step failed")
            await wait_event(self._wake, POLL_SECONDS)

    async def step(self) -> None:
        for phase in await self.store.ready_workflow_phases():
            try:
                if await self.store.start_workflow_phase(phase.intent_id):
                    await self._dispatch(phase)
            except DomainError as exc:  # e.g. its intent changed under us: not this pass
                log.warning("workflow phase %s not started: %s", phase.intent_id, exc)

    async def _dispatch(self, phase: ReadyPhase) -> None:
        if self.federation is None:
            await self.store.fail_workflow_phase(phase.intent_id, "Federation not enabled")
            return
        scope = None
        if phase.delegation_scope is not None:
            scope = msgspec.convert(phase.delegation_scope, DelegationScope)
        request = DispatchRequest(
            intent_id=phase.intent_id,
            target_server=phase.dispatch_to or "",
            agent_id=phase.assign,
            delegation_scope=scope,
            complete_on_callback=True,
        )
        try:
            await create_dispatch(self.store, self.federation, request)
        except DomainError as exc:
            await self.store.fail_workflow_phase(phase.intent_id, str(exc))
            return
        self.on_dispatch()
