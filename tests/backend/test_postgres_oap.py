"""OAP chain claims on PostgreSQL, with store instances on one database standing in for
server instances (`OapClaims`): a live claim is never taken, a lapsed or released one is
taken by exactly one instance, and the old owner can no longer advance the chain."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from backend.oap.envelope import envelope_for
from backend.store.oap import ChainLost, NewChain
from backend.store.postgres import PostgresStore
from backend.store.sqlite.core import new_uid
from backend.wire.intents import IntentCreate

LONG = 120.0
"""A claim that outlasts any test."""


@pytest.fixture
async def trio(postgres_url) -> AsyncIterator[tuple[PostgresStore, PostgresStore, PostgresStore]]:
    stores = tuple(PostgresStore(postgres_url, claim_seconds=LONG) for _ in range(3))
    await asyncio.gather(*(s.open() for s in stores))
    try:
        yield stores
    finally:
        await asyncio.gather(*(s.close() for s in stores))


async def new_chain(store: PostgresStore, owner: str) -> str:
    intent = await store.create_intent(IntentCreate(title="chain"), "a")
    chain_id = new_uid()
    await store.create_oap_chain(
        NewChain(
            chain_id=chain_id,
            intent_id=intent.id,
            intent_version=intent.version,
            envelope=envelope_for(intent, chain_id, None),
            mode="handoff",
            pipeline=None,
            max_hops=5,
            next_agent="a1",
            next_selected_by="keyword",
        ),
        owner,
        "a",
    )
    return chain_id


async def polled(condition: Callable[[], Awaitable[Any]], what: str) -> Any:
    """`condition()` once it is truthy: a claim lapses on the database's clock."""
    deadline = time.monotonic() + 10
    while not (value := await condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)
    return value


async def taken_over(store: PostgresStore, owner: str) -> list[str]:
    return await polled(lambda: store.take_over_oap_chains(owner, 50), "a take-over")


async def test_a_lapsed_claim_is_taken_once_and_the_old_owner_is_locked_out(trio):
    a, b, _ = trio
    a.claim_seconds = 0.3  # A stops renewing (it "died"): its claim lapses soon
    chain_id = await new_chain(a, "A")
    assert await b.take_over_oap_chains("B", 50) == []  # A's claim is live
    assert await a.renew_oap_claims("A") == [chain_id]
    await a.start_oap_hop(chain_id, "A", 1, "a1", "keyword", "sha")

    assert await taken_over(b, "B") == [chain_id]
    assert await b.take_over_oap_chains("B", 50) == []  # B's claim is live now
    with pytest.raises(ChainLost):
        await a.record_oap_retry(chain_id, "A", 1, 1, "late")
    assert await a.renew_oap_claims("A") == []
    assert await b.renew_oap_claims("B") == [chain_id]
    state = await b.oap_chain_state(chain_id)
    assert (state.status, state.pending_hop, state.pending_agent) == ("running", 1, "a1")
    events = await b.events_after(0, 100)
    taken = [e.payload for e in events if e.payload.get("oap") == "chain_taken_over"]
    assert taken == [
        {
            "oap": "chain_taken_over",
            "chain_id": chain_id,
            "from_owner": "A",
            "why": "claim_lapsed",
            "hops_done": 0,
            "resend_hop": 1,
        }
    ]


async def test_two_survivors_taking_over_at_once_split_the_chains(trio):
    a, b, c = trio
    a.claim_seconds = 0.3
    chains = {await new_chain(a, "A") for _ in range(12)}
    lapsed = "SELECT count(*) = $1 FROM oap_chains WHERE claimed_until < clock_timestamp()"
    await polled(lambda: a.pool.fetchval(lapsed, len(chains)), "every claim to lapse")
    # B and C race for them.
    by_b, by_c = await asyncio.gather(
        b.take_over_oap_chains("B", 50), c.take_over_oap_chains("C", 50)
    )
    assert set(by_b) | set(by_c) == chains and not set(by_b) & set(by_c)
    owners = await a.pool.fetch("SELECT chain_id, owner FROM oap_chains")
    assert {r["chain_id"]: r["owner"] for r in owners} == {
        **{x: "B" for x in by_b},
        **{x: "C" for x in by_c},
    }


async def test_a_released_chain_is_taken_at_once_and_finished_chains_never(trio):
    a, b, _ = trio
    running, finished = await new_chain(a, "A"), await new_chain(a, "A")
    await b.cancel_oap_chain(finished, "done with it", "a")  # through the other instance
    assert await a.renew_oap_claims("A") == [running]  # A's runner stops the cancelled run
    assert await b.take_over_oap_chains("B", 50) == []  # A's claims last LONG
    assert await a.release_oap_chains("A") == [running]
    assert await b.take_over_oap_chains("B", 50) == [running]
    assert (await b.get_oap_chain(finished)).status == "cancelled"


def test_the_claim_length_is_a_setting_and_must_be_positive():
    from backend.settings import load_settings

    environ = {"OPENINTENT_POSTGRES_CLAIM_SECONDS": "2.5"}
    assert load_settings({}, environ=environ).postgres_claim_seconds == 2.5
    for bad in (0, -1):
        with pytest.raises(SystemExit, match="postgres_claim_seconds"):
            load_settings({"postgres_claim_seconds": bad}, environ={})
