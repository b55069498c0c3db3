"""`SqliteStore`: the resource mixins assembled into the full `Store` contract."""

from __future__ import annotations

from ..base import Store
from .events import SqliteEvents
from .governance import SqliteGovernance
from .intents import SqliteIntents
from .leases import SqliteLeases


class SqliteStore(SqliteIntents, SqliteEvents, SqliteLeases, SqliteGovernance, Store):
    """Add a resource by writing its mixin beside the others and listing it here."""
