"""Real concurrency against the live server: optimistic concurrency holds under a race, and
the group-commit writer keeps every sequence gapless."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx

from .test_intents_api import API

RACERS = 50


async def test_fifty_patches_with_one_if_match_one_wins(server):
    async with server.async_client(limits=_pool(RACERS)) as client:
        created = await client.post(f"{API}/intents", json={"title": "Hot"})
        intent_id = created.json()["id"]

        async def racer(n: int):
            return await client.post(
                f"{API}/intents/{intent_id}/state",
                json={"patches": [{"op": "set", "path": "/winner", "value": n}]},
                headers={"If-Match": "1"},
            )

        responses = await asyncio.gather(*(racer(n) for n in range(RACERS)))
        codes = Counter(r.status_code for r in responses)
        assert codes == {200: 1, 409: RACERS - 1}, codes
        winner = next(r.json() for r in responses if r.status_code == 200)
        losers = [r.json() for r in responses if r.status_code == 409]
        assert {body["current_version"] for body in losers} == {2}
        assert all("lease" not in str(body).lower() for body in losers)

        intent = (await client.get(f"{API}/intents/{intent_id}")).json()
        assert intent["version"] == 2 and intent["state"] == winner["state"]
        log = (await client.get(f"{API}/intents/{intent_id}/events")).json()["events"]
        patched = [e for e in log if e["event_type"] == "state_patched"]
        assert len(patched) == 1
        assert patched[0]["payload"]["version"] == 2
        assert patched[0]["payload"]["patches"][0]["value"] == intent["state"]["winner"]


async def test_concurrent_writers_on_many_intents_keep_sequences_gapless(server):
    async with server.async_client(limits=_pool(40)) as client:
        ids = [
            (await client.post(f"{API}/intents", json={"title": f"I{n}"})).json()["id"]
            for n in range(8)
        ]

        async def writer(intent_id: str, rounds: int):
            version = 1
            for n in range(rounds):  # each writer owns one intent, so its If-Match is exact
                response = await client.post(
                    f"{API}/intents/{intent_id}/state",
                    json={"state": {"n": n}},
                    headers={"If-Match": str(version)},
                )
                assert response.status_code == 200, response.text
                version += 1

        async def commenter(intent_id: str, rounds: int):
            for _ in range(rounds):
                response = await client.post(
                    f"{API}/intents/{intent_id}/events", json={"event_type": "comment"}
                )
                assert response.status_code == 201, response.text

        await asyncio.gather(
            *(writer(i, 10) for i in ids), *(commenter(i, 10) for i in ids for _ in range(2))
        )
        seen_global = []
        for intent_id in ids:
            intent = (await client.get(f"{API}/intents/{intent_id}")).json()
            assert intent["version"] == 11 and intent["state"] == {"n": 9}
            log = (await client.get(f"{API}/intents/{intent_id}/events")).json()["events"]
            assert [e["sequence"] for e in log] == list(range(1, 32))
            versions = [e["payload"]["version"] for e in log if e["event_type"] == "state_patched"]
            assert versions == list(range(2, 12))
            seen_global += [e["global_sequence"] for e in log]
        assert sorted(seen_global) == list(range(1, len(seen_global) + 1))


def _pool(size: int) -> httpx.Limits:
    return httpx.Limits(max_connections=size, max_keepalive_connections=size)
