"""The portfolios part of the Store contract (RFC-0007)."""

from __future__ import annotations

from abc import ABC, abstractmethod

from ..wire.portfolios import (
    Membership,
    MembershipCreate,
    Portfolio,
    PortfolioCreate,
    PortfolioDetail,
    PortfolioIntents,
)
from .keyset import Slice


class PortfolioStore(ABC):
    @abstractmethod
    async def create_portfolio(self, data: PortfolioCreate, actor: str | None) -> Portfolio: ...

    @abstractmethod
    async def list_portfolios(
        self,
        created_by: str | None = None,
        status: str | None = None,
        *,
        offset: int = 0,
        limit: int | None = None,
        max_bytes: int | None = None,
        cursor: str | None = None,
    ) -> Slice[Portfolio]:
        """Oldest first.
        Paged: see `store.sqlite.core.read_keyset`."""

    @abstractmethod
    async def get_portfolio(
        self, portfolio_id: str, *, offset: int = 0, max_bytes: int | None = None
    ) -> PortfolioDetail:
        """Members from `offset`: at most 1000, ending early at about `max_bytes` (then
        `next_offset` says where to go on). Raises NotFound."""

    @abstractmethod
    async def portfolio_intents(
        self, portfolio_id: str, *, offset: int = 0, max_bytes: int | None = None
    ) -> PortfolioIntents:
        """As get_portfolio. Raises NotFound."""

    @abstractmethod
    async def portfolio_member_ids(self, portfolio_id: str) -> list[str]:
        """Member intent ids. Raises NotFound for an unknown portfolio."""

    @abstractmethod
    async def set_portfolio_status(
        self, portfolio_id: str, status: str, reason: str | None, actor: str | None
    ) -> Portfolio:
        """Raises NotFound, InvalidInput for an unknown status."""

    @abstractmethod
    async def add_portfolio_member(
        self, portfolio_id: str, data: MembershipCreate, actor: str | None
    ) -> Membership:
        """NotFound for an unknown portfolio or intent, Conflict if already a member."""

    @abstractmethod
    async def remove_portfolio_member(
        self, portfolio_id: str, intent_id: str, actor: str | None
    ) -> None:
        """NotFound unless the intent is a member."""

    @abstractmethod
    async def intent_portfolios(self, intent_id: str) -> list[Portfolio]:
        """Portfolios holding the intent. Raises NotFound for an unknown intent."""
