"""Runs chains: one asyncio task per running chain, one selection per hop, and a durable
checkpoint after every hop (spec/oap.md §8, "Runner").

A hop is: record it `pending` (its Idempotency-Key is `{chain_id}:{hop}`), POST the envelope
with OAP's retries, apply the answer as OAP does, then commit the hop, the checkpoint, the
intent's state and the events in one transaction. A server that dies mid-hop leaves the hop
`pending`; on start-up the chain is marked `interrupted`, and resuming re-sends that hop with
the same key (at least once: an agent that dedupes on the key applies it once).

On a store several instances share (`OapClaims`, PostgreSQL) nothing is marked
`interrupted`: each runner renews its chains' claims, and takes over (and runs on from the
checkpoint) the chains whose instance died or shut down."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import socket
import time
from collections.abc import Mapping, Sequence

import msgspec

from ..domain.errors import DomainError, InvalidInput, NotFound, PayloadTooLarge
from ..store import Store
from ..store.oap import ChainLost, ChainState, HopResult, NewChain, OapClaims
from ..store.sqlite.core import new_uid
from ..wire.headers import IDEMPOTENCY_KEY, INTENT_ID
from ..wire.oap import OapChain, OapChainResume, OapChainStart, TaskEnvelope
from .envelope import (
    BadResponse,
    action_for,
    apply_response,
    encode,
    envelope_for,
    goal_of,
    reserved_memory,
    state_memory,
)
from .routing import NoMatch, select_by_keyword
from .transport import AgentTransport, HopError

log = logging.getLogger("openintent.oap")

TAKE_OVER_BATCH = 50
"""Chains one instance takes over per round (the others take the rest)."""


def unknown_agent_message(agent_id: str) -> str:
    return f"Requested agent '{agent_id}' is not registered."  # OAP's own wording


class ChainRunner:
    def __init__(self, store: Store, transport: AgentTransport, *, max_envelope_bytes: int):
        self.store = store
        self.transport = transport
        self.max_envelope_bytes = max_envelope_bytes
        # Who runs a chain: chain writes check it, so a chain is never advanced by two runs.
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{new_uid()}"
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._claims: asyncio.Task[None] | None = None

    # --- starting, resuming, cancelling

    async def start(self, intent_id: str, body: OapChainStart, actor: str | None) -> OapChain:
        intent = await self.store.get_intent(intent_id)
        agents = {a.agent_id: a.capabilities for a in await self.store.list_oap_agents()}
        chain_id = new_uid()
        first_agent, selected_by = self._first_hop(goal_of(intent), body, agents)
        envelope = envelope_for(intent, chain_id, first_agent if selected_by == "forced" else None)
        self._check_size(envelope)
        chain = await self.store.create_oap_chain(
            NewChain(
                chain_id=chain_id,
                intent_id=intent_id,
                intent_version=intent.version,
                envelope=envelope,
                mode="pipeline" if body.pipeline else "handoff",
                pipeline=body.pipeline,
                max_hops=body.max_hops,
                next_agent=first_agent,
                next_selected_by=selected_by,
            ),
            self.owner,
            actor,
        )
        self._launch(chain_id)
        return await self.wait(chain_id) if body.wait else chain

    def _first_hop(
        self,
        goal: str,
        body: OapChainStart,
        agents: Mapping[str, Sequence[str]],
    ) -> tuple[str, str]:
        """The one selection of hop 1: the pipeline's first agent, the pinned agent, or
        OAP's keyword match on the goal (409 tie, 422 no match; nothing is written)."""
        if body.pipeline and body.first_agent:
            raise InvalidInput(
                "pipeline and first_agent exclude each other", errors=[{"field": "first_agent"}]
            )
        if body.pipeline:
            missing = [a for a in body.pipeline if a not in agents]
            if missing:
                raise NoMatch(f"Pipeline agent(s) not found in registry: {', '.join(missing)}")
            return body.pipeline[0], "pipeline"
        if body.first_agent:
            if body.first_agent not in agents:
                raise NoMatch(unknown_agent_message(body.first_agent))
            return body.first_agent, "forced"
        agent_id, _ = select_by_keyword(goal, agents)
        return agent_id, "keyword"

    def _check_size(self, envelope: TaskEnvelope) -> None:
        size = len(encode(envelope))
        if size > self.max_envelope_bytes:
            raise PayloadTooLarge(
                f"The envelope would be {size} bytes; the limit is {self.max_envelope_bytes}"
                " (state.oap_memory is too large)",
                limit_bytes=self.max_envelope_bytes,
            )

    async def resume(self, chain_id: str, body: OapChainResume, actor: str | None) -> OapChain:
        if body.pipeline:
            registered = {a.agent_id for a in await self.store.list_oap_agents()}
            missing = [a for a in body.pipeline if a not in registered]
            if missing:
                raise NoMatch(f"Pipeline agent(s) not found in registry: {', '.join(missing)}")
        chain = await self.store.resume_oap_chain(
            chain_id, self.owner, body.max_hops, body.pipeline, actor
        )
        self._launch(chain_id)
        return await self.wait(chain_id) if body.wait else chain

    async def cancel(self, chain_id: str, reason: str | None, actor: str | None) -> OapChain:
        chain = await self.store.cancel_oap_chain(chain_id, reason, actor)
        task = self._tasks.get(chain_id)
        if task is not None:
            task.cancel()  # stops the request in flight; its hop is already marked failed
        return chain

    async def wait(self, chain_id: str) -> OapChain:
        """The chain once its run stops (shielded: a client that goes away stops nothing)."""
        task = self._tasks.get(chain_id)
        if task is not None:
            await asyncio.shield(asyncio.wait([task]))
        return await self.store.get_oap_chain(chain_id)

    async def recover(self) -> list[str]:
        """At start-up: chains left `running` by a server that died are `interrupted`; on a
        shared store, the claims task starts instead (it takes over such chains)."""
        if isinstance(self.store, OapClaims):
            self._claims = asyncio.create_task(self._keep_claims(self.store), name="oap-claims")
            return []
        found = await self.store.interrupt_oap_chains(None)
        if found:
            log.warning("OAP chains interrupted by the last shutdown: %s", ", ".join(found))
        return found

    async def close(self) -> None:
        """At shutdown: stop every run; their chains become `interrupted` (resumable), or
        on a shared store are released for another instance to take over."""
        if self._claims is not None:
            self._claims.cancel()
            await asyncio.gather(self._claims, return_exceptions=True)
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if isinstance(self.store, OapClaims):
            await self.store.release_oap_chains(self.owner)
        else:
            await self.store.interrupt_oap_chains(self.owner)

    async def _keep_claims(self, store: OapClaims) -> None:
        """Every third of the claim's length: renew this instance's claims (a run whose
        chain is no longer ours stops: another instance took it, or it was cancelled), then
        take over the chains whose claim lapsed or was released."""
        while True:
            try:
                if self._tasks:
                    before = dict(self._tasks)  # a run launched meanwhile is not judged
                    mine = set(await store.renew_oap_claims(self.owner))
                    for chain_id, task in before.items():
                        # Not ours any more (taken over, or cancelled through another
                        # instance): stop the run, unless a newer one replaced it meanwhile.
                        if chain_id not in mine and self._tasks.get(chain_id) is task:
                            task.cancel()
                for chain_id in await store.take_over_oap_chains(self.owner, TAKE_OVER_BATCH):
                    log.warning("OAP chain %s taken over by %s", chain_id, self.owner)
                    if chain_id not in self._tasks:  # our own lapsed claim: the run goes on
                        self._launch(chain_id)
            except Exception:  # the database may be away for a while: try again next round
                log.exception("OAP chain claims could not be renewed or taken over")
            await asyncio.sleep(store.claim_seconds / 3)

    def _launch(self, chain_id: str) -> None:
        task = asyncio.create_task(self._run(chain_id), name=f"oap-chain-{chain_id}")
        self._tasks[chain_id] = task

        def forget(done: asyncio.Task[None]) -> None:
            if self._tasks.get(chain_id) is done:  # not a newer run of the same chain
                del self._tasks[chain_id]

        task.add_done_callback(forget)

    # --- one run

    async def _run(self, chain_id: str) -> None:
        try:
            state: ChainState | None = await self.store.oap_chain_state(chain_id)
            while state is not None:
                state = await self._hop(state)
        except (ChainLost, asyncio.CancelledError):
            return  # cancelled, or no longer ours: whoever took it records the outcome
        except Exception as exc:  # a bug must not leave the chain `running` for ever
            log.exception("OAP chain %s stopped by an unexpected error", chain_id)
            try:
                await self.store.fail_oap_chain(chain_id, self.owner, "internal", repr(exc))
            except Exception:
                log.exception("could not mark OAP chain %s failed", chain_id)

    async def _hop(self, state: ChainState) -> ChainState | None:
        """Take one hop; the state for the next one (as just committed), or None: stop."""
        chain_id, owner = state.chain_id, self.owner
        if state.status != "running":
            return None
        resend = state.pending_hop is not None
        if state.pending_hop is not None:
            hop, agent_id = state.pending_hop, state.pending_agent or ""
            selected_by = state.pending_selected_by or "handoff"
        else:
            if state.next_agent is None:
                return None
            if state.hops_done >= state.stop_at_hop:
                await self.store.stop_oap_chain_at_limit(chain_id, owner)
                return None
            hop, agent_id = state.hops_done + 1, state.next_agent
            selected_by = state.next_selected_by or "handoff"
        try:
            agent = await self.store.get_oap_agent(agent_id)
        except NotFound:
            await self.store.fail_oap_chain(
                chain_id, owner, "unknown_agent", unknown_agent_message(agent_id),
                hop=hop if resend else None,
            )  # fmt: skip
            return None
        body = encode(state.envelope)
        if len(body) > self.max_envelope_bytes:
            await self.store.fail_oap_chain(
                chain_id, owner, "too_large",
                f"The envelope is {len(body)} bytes; the limit is {self.max_envelope_bytes}",
                hop=hop if resend else None,
            )  # fmt: skip
            return None
        # The pending row commits while the agent works: the key is `{chain_id}:{hop}`
        # whether or not the row was durable when a crash came, so a resume re-sends the
        # same hop under the same key either way. Every later write of this hop waits for it.
        recorded: asyncio.Future[None] | None = None
        if not resend:
            recorded = asyncio.ensure_future(
                self.store.start_oap_hop(
                    chain_id, owner, hop, agent_id, selected_by, hashlib.sha256(body).hexdigest()
                )
            )
            # Its failure (the chain was cancelled meanwhile) is seen where it is awaited; a run
            # stopped before that (cancelled) must not leave it "never retrieved".
            recorded.add_done_callback(lambda done: done.cancelled() or done.exception())
            await asyncio.sleep(0)  # queued for the writer before the request goes out

        async def hop_recorded() -> None:
            if recorded is not None:
                await recorded

        # A re-sent hop also counts the attempt the dead server had in flight.
        prior_attempts = state.pending_attempts + 1 if resend else 0

        async def on_retry(attempt: int, why: str) -> None:
            await hop_recorded()
            await self.store.record_oap_retry(chain_id, owner, hop, attempt, why)

        started = time.perf_counter()
        headers = {IDEMPOTENCY_KEY.name: f"{chain_id}:{hop}", INTENT_ID.name: state.intent_id}
        try:
            invocation = await self.transport.invoke(
                agent.url, body, headers, agent.timeout_s, on_retry
            )
        except HopError as exc:
            await hop_recorded()
            await self.store.fail_oap_chain(
                chain_id, owner, exc.kind, exc.message, hop=hop,
                attempts=prior_attempts + exc.attempts, http_status=exc.http_status,
                response=exc.response, duration_ms=_ms_since(started),
            )  # fmt: skip
            return None
        duration_ms = _ms_since(started)
        await hop_recorded()
        attempts = prior_attempts + invocation.attempts
        pipeline = state.pipeline if state.mode == "pipeline" else None
        position = hop - state.pipeline_start if pipeline else None
        reserved = state.envelope.memory.get("openintent")
        try:
            envelope = apply_response(
                state.envelope,
                invocation.response,
                agent_id=agent_id,
                action=action_for(
                    agent_id, pipeline_position=position, pipeline_length=len(pipeline or ())
                ),
                pipeline=pipeline is not None,
                reserved=reserved
                if isinstance(reserved, dict)
                else reserved_memory(state.intent_id, chain_id, 0),
            )
            size = len(encode(envelope))
            if size > self.max_envelope_bytes:
                raise HopError(
                    "too_large",
                    f"After this answer the envelope would be {size} bytes; the limit is"
                    f" {self.max_envelope_bytes}",
                )
        except (BadResponse, HopError) as exc:
            kind = exc.kind if isinstance(exc, HopError) else "bad_response"
            await self.store.fail_oap_chain(
                chain_id, owner, kind, str(exc), hop=hop, attempts=attempts,
                http_status=invocation.http_status, response=invocation.response,
                duration_ms=duration_ms,
            )  # fmt: skip
            return None
        if pipeline is not None:
            more = position is not None and position < len(pipeline)
            next_agent = pipeline[position] if more and position is not None else None
            next_selected_by = "pipeline" if next_agent else None
        else:
            next_agent = envelope.handoff.next_agent if envelope.handoff else None
            next_selected_by = "handoff" if next_agent else None
        if next_agent is None:
            status = "completed"
        elif hop >= state.stop_at_hop:
            status = "hop_limit"
        else:
            status = "running"
        result = HopResult(
            hop=hop,
            envelope=envelope,
            response=invocation.response,
            http_status=invocation.http_status,
            attempts=attempts,
            duration_ms=duration_ms,
            next_agent=next_agent,
            next_selected_by=next_selected_by,
            state_memory=state_memory(envelope),
            last_result=envelope.memory.get("last_result"),
            status=status,
        )
        try:
            await self.store.complete_oap_hop(chain_id, owner, result)
        except DomainError as exc:  # e.g. a lease on state.oap_memory held by someone else
            await self.store.fail_oap_chain(
                chain_id, owner, "state_refused", exc.message, hop=hop, attempts=attempts,
                http_status=invocation.http_status, response=invocation.response,
                duration_ms=duration_ms,
            )  # fmt: skip
            return None
        if status != "running":
            return None
        return msgspec.structs.replace(
            state,
            hops_done=hop,
            envelope=envelope,
            next_agent=next_agent,
            next_selected_by=next_selected_by,
            pending_hop=None,
            pending_agent=None,
            pending_selected_by=None,
            pending_attempts=0,
        )


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
