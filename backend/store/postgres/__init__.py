"""The PostgreSQL store (asyncpg): a reader pool, one batching writer per instance, and a
global event sequence that stays gapless and commit-ordered across instances (core.py)."""

from .store import PostgresStore

__all__ = ["PostgresStore"]
