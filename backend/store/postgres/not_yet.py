"""The parts of the Store contract the PostgreSQL store does not implement yet (issue 12 is
being built in steps; the README's PostgreSQL section lists them).

Writes answer 501 with a message saying so. Reads answer what is true: nothing can have
been written, so lists are empty and lookups find nothing.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from ...domain.errors import DomainError, NotFound
from ...wire.federation import DispatchView
from ...wire.workflows import WorkflowView
from ..federation import (
    CallbackIn,
    FederationCounts,
    FederationOutbox,
    FederationStore,
    FederationWorkflows,
    InboundDispatch,
    InboundOutcome,
    OutboundDispatch,
    OutboundTarget,
    OutboxJob,
    ReadyPhase,
    SendResult,
    WorkflowPlan,
)


class NotOnPostgresYet(DomainError):
    status_code = 501

    def __init__(self, feature: str) -> None:
        super().__init__(
            f"{feature} is not available on the PostgreSQL store yet; use a SQLite database"
            " for it (see the README's PostgreSQL section)"
        )


FEATURE_NAMES = {"workflows": "Federation workflows"}


class PostgresNotYet:
    NOT_YET = frozenset(FEATURE_NAMES)

    def refuse_if_not_yet(self, feature: str) -> None:
        if feature in FEATURE_NAMES:
            raise NotOnPostgresYet(FEATURE_NAMES[feature])


class PostgresFederationNotYet(FederationStore, FederationOutbox):
    async def receive_dispatch(self, dispatch: InboundDispatch) -> InboundOutcome:
        raise NotOnPostgresYet("Federation")

    async def federation_counts(self) -> FederationCounts:
        return FederationCounts(total_received=0)

    async def create_dispatch(self, dispatch: OutboundDispatch) -> DispatchView:
        raise NotOnPostgresYet("Federation")

    async def inbound_for_intent(self, intent_id: str) -> dict[str, Any] | None:
        return None

    async def due_federation_jobs(
        self, now: float, limit: int, skip: Collection[str] = ()
    ) -> list[OutboxJob]:
        return []

    async def next_federation_due(self) -> float | None:
        return None

    async def record_federation_attempt(
        self, job: OutboxJob, outcome: Any, result: SendResult | None
    ) -> None:
        raise NotOnPostgresYet("Federation")

    async def outbound_target(self, dispatch_id: str) -> OutboundTarget:
        raise NotFound(f"Dispatch {dispatch_id} not found")

    async def apply_callback(self, callback: CallbackIn) -> bool:
        raise NotOnPostgresYet("Federation")

    async def get_dispatch(self, dispatch_id: str) -> DispatchView:
        raise NotFound(f"Dispatch {dispatch_id} not found")

    async def dispatch_counts_by_peer(self) -> tuple[dict[str, int], dict[str, int]]:
        return {}, {}

    async def list_dispatches(
        self, *, direction: str, status: str | None, limit: int, offset: int
    ) -> tuple[list[DispatchView], int]:
        return [], 0


class PostgresWorkflowsNotYet(FederationWorkflows):
    async def create_workflow(self, plan: WorkflowPlan, actor: str | None) -> WorkflowView:
        raise NotOnPostgresYet("Federation workflows")

    async def get_workflow(self, workflow_id: str) -> WorkflowView:
        raise NotFound(f"Workflow {workflow_id} not found")

    async def ready_workflow_phases(self) -> list[ReadyPhase]:
        return []

    async def start_workflow_phase(self, intent_id: str) -> bool:
        raise NotOnPostgresYet("Federation workflows")

    async def fail_workflow_phase(self, intent_id: str, reason: str) -> None:
        raise NotOnPostgresYet("Federation workflows")
