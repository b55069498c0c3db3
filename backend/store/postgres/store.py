"""`PostgresStore`: the resource mixins assembled into the full `Store` contract."""

from __future__ import annotations

from ..base import Store
from .attachments import PostgresAttachments
from .claims import CLAIM_SECONDS, ClaimKeeper, RowClaims, instance_name
from .costs import PostgresCosts
from .events import PostgresEvents
from .governance import PostgresGovernance
from .intents import PostgresIntents
from .leases import PostgresLeases, lease_guard
from .not_yet import (
    PostgresFederationNotYet,
    PostgresNotYet,
    PostgresWorkflowsNotYet,
)
from .oap import PostgresOap
from .portfolios import PostgresPortfolios, complete_portfolios_of
from .retries import PostgresRetries
from .subscriptions import PostgresSubscriptions, WebhookOutbox


class PostgresStore(
    PostgresIntents,
    PostgresEvents,
    PostgresLeases,
    PostgresGovernance,
    PostgresSubscriptions,
    PostgresAttachments,
    PostgresCosts,
    PostgresRetries,
    PostgresPortfolios,
    PostgresNotYet,
    PostgresFederationNotYet,
    PostgresWorkflowsNotYet,
    PostgresOap,
    Store,
):
    """As `SqliteStore`: a resource is a mixin listed here; a rule it must run inside
    another resource's transaction is registered below."""

    def __init__(
        self,
        dsn: str,
        *,
        readers: int = 2,
        oap_claim_seconds: float = 10.0,
        claim_seconds: float = CLAIM_SECONDS,
    ) -> None:
        super().__init__(dsn, readers=readers)
        self.oap_claim_seconds = oap_claim_seconds
        self.webhook_outbox = WebhookOutbox()
        # RFC-0003: a patch into a scope another agent holds a lease on is refused.
        self.hooks.state_patching.append(lease_guard)
        # RFC-0007: a member's status change may complete its portfolios.
        self.hooks.status_changed.append(complete_portfolios_of)
        # Webhook deliveries are written in their event's transaction (the outbox), and
        # claimed row by row: every instance sends, each delivery one instance at a time.
        self.instance = instance_name()
        self.delivery_claims = RowClaims(
            "webhook_deliveries", "status = 'pending'", self.instance, claim_seconds
        )
        self.claim_keeper = ClaimKeeper([self.delivery_claims])
        self.hooks.event_appended.append(self.webhook_outbox.enqueue)
        self.hooks.rolled_back.append(self.webhook_outbox.forget)
