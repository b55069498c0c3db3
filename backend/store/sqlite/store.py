"""`SqliteStore`: the resource mixins assembled into the full `Store` contract."""

from __future__ import annotations

from ..base import Store
from .events import SqliteEvents
from .intents import SqliteIntents


class SqliteStore(SqliteIntents, SqliteEvents, Store):
    """Add a resource by writing its mixin beside the others and listing it here."""
