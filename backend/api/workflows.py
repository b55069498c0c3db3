"""`POST /api/v1/workflows` runs a workflow document; `GET /api/v1/workflows/{id}` shows it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from litestar import Controller, Litestar, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_201_CREATED

from ..domain.errors import InvalidInput
from ..federation.identity import normalize_url
from ..federation.service import Federation
from ..outbound.egress import EgressRefused
from ..store import Store
from ..wire.headers import AGENT_ID
from ..wire.workflows import WorkflowDocument, WorkflowView
from ..workflows.plan import build_plan
from ..workflows.runner import WorkflowRunner
from .openapi import errors


def peer_resolver(federation: Federation):
    """`dispatch_to` -> the URL to dispatch to: a URL as given, a DID through the configured
    peers (a DID no peer carries has no URL to send to)."""

    def resolve(target: str) -> str:
        if target.startswith("did:"):
            peer = federation.config.find_peer(did=target)
            if peer is None or not peer.url:
                raise InvalidInput(
                    f"dispatch_to {target}: no configured peer has this DID and a URL",
                    errors=[{"field": "dispatch_to", "value": target}],
                )
            return normalize_url(peer.url)
        try:
            federation.egress.check_url(target)  # the address is checked when it is sent
        except EgressRefused as exc:
            raise InvalidInput(
                f"dispatch_to {target}: {exc}", errors=[{"field": "dispatch_to"}]
            ) from None
        return target.strip().rstrip("/")

    return resolve


class WorkflowController(Controller):
    path = "/workflows"
    tags = ["workflows"]

    @post(
        "/",
        status_code=HTTP_201_CREATED,
        summary="Run a workflow (the SDK's workflow YAML, as JSON)",
        description="One intent per phase: phases with dependencies start `blocked` and "
        "become `active` when those complete; a `dispatch_to` phase is then dispatched to "
        "that peer and completed by its `completed` callback. 400 for an unknown "
        "dependency, a cycle, or `dispatch_to` without federation or to an unknown DID.",
        responses=errors(400),
    )
    async def create(
        self, request: Request, store: NamedDependency[Store], data: JSONBody[WorkflowDocument]
    ) -> WorkflowView:
        federation: Federation | None = request.app.state.federation
        plan = build_plan(data, peer_resolver(federation) if federation else None)
        actor = request.headers.get(AGENT_ID.name)
        view = await store.create_workflow(plan, actor)
        request.app.state.workflow_runner.wake()
        return view

    @get("/{workflow_id:str}", summary="A workflow's phases, their intents and dispatches")
    async def show(self, store: NamedDependency[Store], workflow_id: FromPath[str]) -> WorkflowView:
        return await store.get_workflow(workflow_id)


@asynccontextmanager
async def workflow_runner(app: Litestar) -> AsyncIterator[None]:
    store: Store = app.state.store
    runner = WorkflowRunner(store, app.state.federation, app.state.webhook_worker.wake)
    store.add_commit_listener(runner.on_commit)
    app.state.workflow_runner = runner
    task = asyncio.create_task(runner.run(), name="workflow-runner")
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
