"""The SQLite store: WAL, synchronous=FULL, one group-commit writer, reader connections."""

from .store import SqliteStore

__all__ = ["SqliteStore"]
