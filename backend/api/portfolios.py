"""Portfolios (RFC-0007): create, list, view with members and aggregate, status, members."""

from __future__ import annotations

from functools import partial
from typing import Annotated

from litestar import Controller, Request, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from ..domain.errors import InvalidInput
from ..domain.portfolios import check_governance_policy, check_portfolio_status, check_role
from ..store import Store
from ..wire.limits import MAX_PAGE
from ..wire.portfolios import (
    Membership,
    MembershipCreate,
    Portfolio,
    PortfolioCreate,
    PortfolioDetail,
    PortfolioIntents,
    PortfolioList,
    PortfolioStatusChange,
)
from .openapi import errors
from .params import AgentIdHeader, Cursor, Offset, actor_of, page_of

CAPABILITIES = ["portfolios"]
MAX_NAME = 500


class PortfolioController(Controller):
    path = "/portfolios"
    tags = ["portfolios"]

    @post("", status_code=HTTP_201_CREATED, summary="Create a portfolio")
    async def create(
        self,
        store: NamedDependency[Store],
        data: JSONBody[PortfolioCreate],
        agent_id: AgentIdHeader = None,
    ) -> Portfolio:
        if not data.name.strip() or len(data.name) > MAX_NAME:
            raise InvalidInput(
                f"name must be 1 to {MAX_NAME} characters", errors=[{"field": "name"}]
            )
        check_governance_policy(data.governance_policy or {})
        return await store.create_portfolio(data, actor_of(agent_id))

    @get("", summary="List portfolios, oldest first")
    async def list_portfolios(
        self,
        request: Request,
        store: NamedDependency[Store],
        created_by: Annotated[str | None, QueryParameter()] = None,
        status: Annotated[str | None, QueryParameter()] = None,
        offset: Offset = 0,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE)] = MAX_PAGE,
        cursor: Cursor = None,
    ) -> PortfolioList:
        if status is not None:
            check_portfolio_status(status)
        fetch = partial(store.list_portfolios, created_by, status)
        page = await page_of(fetch, request, offset, limit, cursor)
        return PortfolioList(
            portfolios=page.items, next_offset=page.next_offset, next_cursor=page.next_cursor
        )

    @get("/{portfolio_id:str}", summary="A portfolio with its member intents and aggregate")
    async def detail(
        self,
        request: Request,
        store: NamedDependency[Store],
        portfolio_id: FromPath[str],
        offset: Offset = 0,
    ) -> PortfolioDetail:
        budget = request.app.state.settings.max_response_bytes
        return await store.get_portfolio(portfolio_id, offset=offset, max_bytes=budget)

    @patch("/{portfolio_id:str}/status", summary="Set the status: active|completed|abandoned")
    async def set_status(
        self,
        store: NamedDependency[Store],
        portfolio_id: FromPath[str],
        data: JSONBody[PortfolioStatusChange],
        agent_id: AgentIdHeader = None,
    ) -> Portfolio:
        return await store.set_portfolio_status(
            portfolio_id, data.status, data.reason, actor_of(agent_id)
        )

    @post(
        "/{portfolio_id:str}/intents",
        status_code=HTTP_201_CREATED,
        summary="Add a member",
        responses=errors(409),
    )
    async def add_member(
        self,
        store: NamedDependency[Store],
        portfolio_id: FromPath[str],
        data: JSONBody[MembershipCreate],
        agent_id: AgentIdHeader = None,
    ) -> Membership:
        check_role(data.role)
        return await store.add_portfolio_member(portfolio_id, data, actor_of(agent_id))

    @get("/{portfolio_id:str}/intents", summary="Member intents with the aggregate status")
    async def members(
        self,
        request: Request,
        store: NamedDependency[Store],
        portfolio_id: FromPath[str],
        offset: Offset = 0,
    ) -> PortfolioIntents:
        budget = request.app.state.settings.max_response_bytes
        return await store.portfolio_intents(portfolio_id, offset=offset, max_bytes=budget)

    @delete(
        "/{portfolio_id:str}/intents/{intent_id:str}",
        status_code=HTTP_204_NO_CONTENT,
        summary="Remove a member",
    )
    async def remove_member(
        self,
        store: NamedDependency[Store],
        portfolio_id: FromPath[str],
        intent_id: FromPath[str],
        agent_id: AgentIdHeader = None,
    ) -> None:
        await store.remove_portfolio_member(portfolio_id, intent_id, actor_of(agent_id))


class IntentPortfolioController(Controller):
    path = "/intents/{intent_id:str}/portfolios"
    tags = ["portfolios"]

    @get("", summary="The portfolios an intent belongs to")
    async def of_intent(
        self, store: NamedDependency[Store], intent_id: FromPath[str]
    ) -> PortfolioList:
        return PortfolioList(portfolios=await store.intent_portfolios(intent_id))


CONTROLLERS = [PortfolioController, IntentPortfolioController]
