"""OpenIntent Coordination Protocol server: Litestar + msgspec over SQLite."""
