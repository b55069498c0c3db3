"""`PostgresStore`: the resource mixins assembled into the full `Store` contract."""

from __future__ import annotations

import asyncpg

from ..base import Store
from .attachments import PostgresAttachments
from .claims import CLAIM_SECONDS, ClaimKeeper, RowClaims, instance_name
from .costs import PostgresCosts
from .events import PostgresEvents
from .federation import FederatedIntents, PostgresFederation
from .federation_outbox import PostgresFederationOutbox
from .governance import PostgresGovernance
from .intents import PostgresIntents
from .leases import PostgresLeases, lease_guard
from .oap import PostgresOap
from .portfolios import PostgresPortfolios, complete_portfolios_of
from .presence import Presence
from .retries import PostgresRetries
from .subscriptions import PostgresSubscriptions, WebhookOutbox

NUL_IN_TEXT = (
    "text with a NUL character (\\u0000) cannot be stored or looked up by this server's database"
)


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
    PostgresFederation,
    PostgresFederationOutbox,
    PostgresOap,
    Store,
):
    """As `SqliteStore`: a resource is a mixin listed here; a rule it must run inside
    another resource's transaction is registered below."""

    # PostgreSQL's `text` cannot hold U+0000 (SQLite's can): a title, name, scope or id with
    # it is refused by the database, and the write fails alone in its batch. JSON documents
    # (`json` columns) keep an escaped \u0000 and are not affected.
    INPUT_REFUSALS = {
        asyncpg.CharacterNotInRepertoireError: NUL_IN_TEXT,
        asyncpg.UntranslatableCharacterError: NUL_IN_TEXT,
    }

    def __init__(
        self,
        dsn: str,
        *,
        readers: int = 2,
        claim_seconds: float = CLAIM_SECONDS,
    ) -> None:
        super().__init__(dsn, readers=readers)
        self.claim_seconds = claim_seconds
        self.webhook_outbox = WebhookOutbox()
        # RFC-0003: a patch into a scope another agent holds a lease on is refused.
        self.hooks.lease_rules.append(lease_guard)
        # RFC-0007: a member's status change may complete its portfolios.
        self.hooks.status_changed.append(complete_portfolios_of)
        # RFC-0023: a federated intent's delegated agent may do only what its scope grants;
        # RFC-0022: its progress queues signed callbacks to its origin.
        self.federated_intents = FederatedIntents()
        self.hooks.state_patching.append(self.federated_intents.state_guard)
        self.hooks.status_changed.insert(0, self.federated_intents.status_guard)
        self.hooks.event_logging.append(self.federated_intents.event_guard)
        self.hooks.event_appended.append(self.federated_intents.on_event)
        self.hooks.rolled_back.append(self.federated_intents.forget)
        # Webhook deliveries are written in their event's transaction (the outbox), and
        # claimed row by row: every instance sends, each delivery one instance at a time.
        self.instance = instance_name()
        self.delivery_claims = RowClaims(
            "webhook_deliveries", "status = 'pending'", self.instance, claim_seconds
        )
        self.claim_keeper = ClaimKeeper([self.delivery_claims])
        self.hooks.event_appended.append(self.webhook_outbox.enqueue)
        self.hooks.rolled_back.append(self.webhook_outbox.forget)
        # Federation jobs and workflow dispatches are claimed per row, by instance.
        self.presence = Presence(dsn)

    async def close(self) -> None:
        await super().close()
        await self.presence.release()
