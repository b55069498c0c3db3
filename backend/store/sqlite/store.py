"""`SqliteStore`: the resource mixins assembled into the full `Store` contract."""

from __future__ import annotations

from pathlib import Path

from ..base import Store
from .attachments import SqliteAttachments
from .costs import SqliteCosts
from .events import SqliteEvents
from .federation import FederatedIntents, SqliteFederation
from .federation_outbox import SqliteFederationOutbox
from .governance import SqliteGovernance
from .intents import SqliteIntents
from .leases import SqliteLeases, lease_guard
from .oap import SqliteOap
from .portfolios import SqlitePortfolios, complete_portfolios_of
from .retries import SqliteRetries
from .subscriptions import SqliteSubscriptions, WebhookOutbox


class SqliteStore(
    SqliteIntents,
    SqliteEvents,
    SqliteLeases,
    SqliteGovernance,
    SqliteSubscriptions,
    SqliteAttachments,
    SqliteCosts,
    SqliteRetries,
    SqlitePortfolios,
    SqliteFederation,
    SqliteFederationOutbox,
    SqliteOap,
    Store,
):
    """Add a resource by writing its mixin beside the others and listing it here; a rule
    it must run inside another resource's transaction is registered below."""

    def __init__(self, path: str | Path, *, readers: int = 2) -> None:
        super().__init__(path, readers=readers)
        self.webhook_outbox = WebhookOutbox()
        # RFC-0003: a patch into a scope another agent holds a lease on is refused.
        self.hooks.state_patching.append(lease_guard)
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
        # Webhook deliveries are written in their event's transaction (the outbox).
        self.hooks.event_appended.append(self.webhook_outbox.enqueue)
        self.hooks.rolled_back.append(self.webhook_outbox.forget)
