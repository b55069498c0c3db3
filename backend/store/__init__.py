"""Persistence behind one abstract contract (`Store`), so other backends can follow."""

from .base import Store

__all__ = ["Store"]
