"""`SqliteStore`: the resource mixins assembled into the full `Store` contract."""

from __future__ import annotations

from ..base import Store
from .attachments import SqliteAttachments
from .costs import SqliteCosts
from .events import SqliteEvents
from .governance import SqliteGovernance
from .intents import SqliteIntents
from .leases import SqliteLeases
from .portfolios import SqlitePortfolios
from .retries import SqliteRetries
from .subscriptions import SqliteSubscriptions


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
    Store,
):
    """Add a resource by writing its mixin beside the others and listing it here."""
