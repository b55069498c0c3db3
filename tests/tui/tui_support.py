"""Shared by the TUI tests: seed a real server over HTTP, build the app, wait for state."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import msgspec
from textual import events

from openintent_tui.app import OpenIntentApp
from openintent_tui.contexts import ConnectionInfo
from tests.support import LiveServer


def connection(server: LiveServer, **fields: Any) -> ConnectionInfo:
    base = {"name": "test", "url": server.url, "api_key": server.api_key, "operator": "alice"}
    return ConnectionInfo(**{**base, **fields})


def make_app(server: LiveServer, **kwargs: Any) -> OpenIntentApp:
    return OpenIntentApp(connection(server), **kwargs)


async def wait_until(
    pilot: Any, predicate: Callable[[], Any], limit: float = 30.0, what: str = ""
) -> None:
    """Poll while the app runs; fails with `what` rather than hanging. `limit` is a bound,
    not a timing check: in CI's two-worker run beside the PostgreSQL tests a console step
    sometimes took over 10 s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        await pilot.pause(0.05)


def _ok(response: httpx.Response) -> Any:
    assert response.status_code < 400, (response.status_code, response.text)
    return response.json() if response.content else None


class Seeded(msgspec.Struct):
    intents: dict[str, str]
    """title -> id"""
    leases: dict[str, str]
    """scope -> lease id"""
    arbitrations: list[str]
    portfolio: str


def create_intent(api: httpx.Client, title: str, status: str = "active", **fields: Any) -> str:
    body = {"title": title, "status": "active" if status != "draft" else "draft", **fields}
    intent = _ok(api.post("/api/v1/intents", json=body))
    if status not in ("draft", "active"):
        _ok(
            api.post(
                f"/api/v1/intents/{intent['id']}/status",
                json={"status": status},
                headers={"If-Match": str(intent["version"])},
            )
        )
    return intent["id"]


def seed(server: LiveServer) -> Seeded:
    """A small realistic workspace, created in a fixed order (snapshots depend on it)."""
    with server.client(agent_id="planner") as api:
        titles = [
            ("Draft the Q3 launch plan", "active"),
            ("Summarise customer interviews", "active"),
            ("Migrate billing to v2", "blocked"),
            ("Translate docs to German", "draft"),
            ("Publish release notes", "completed"),
            ("Evaluate vendor contracts", "active"),
        ]
        intents = {
            title: create_intent(
                api, title, status, description=f"{title}.", state={"progress": i * 10}
            )
            for i, (title, status) in enumerate(titles)
        }
        launch = intents["Draft the Q3 launch plan"]
        research = intents["Summarise customer interviews"]
        _ok(
            api.post(
                f"/api/v1/intents/{launch}/state",
                json={"patches": [{"op": "set", "path": "/outline", "value": {"sections": 4}}]},
                headers={"If-Match": "1"},
            )
        )
        for intent_id, agent in ((launch, "writer"), (research, "researcher")):
            _ok(api.post(f"/api/v1/intents/{intent_id}/agents", json={"agent_id": agent}))
        leases = {}
        for intent_id, agent, scope in (
            (launch, "writer", "draft"),
            (research, "researcher", "notes"),
        ):
            lease = _ok(
                api.post(
                    f"/api/v1/intents/{intent_id}/leases",
                    json={"scope": scope, "duration_seconds": 3600},
                    headers={"X-Agent-ID": agent},
                )
            )
            leases[scope] = lease["id"]
        arbitrations = []
        for intent_id, reason, options in (
            (launch, "Writers disagree on the launch date", ["July 1", "July 15", "August 1"]),
            (research, "Which interview set is authoritative?", ["EU panel", "US panel"]),
        ):
            arbitration = _ok(
                api.post(
                    f"/api/v1/intents/{intent_id}/arbitrate",
                    json={
                        "reason": reason,
                        "context": {"raised_by": "planner", "votes": {"a": 1, "b": 1}},
                        "options": [{"label": label} for label in options],
                    },
                )
            )
            arbitrations.append(arbitration["id"])
        _ok(
            api.post(
                f"/api/v1/intents/{launch}/costs",
                json={"cost_type": "tokens", "amount": 1200, "unit": "tokens"},
            )
        )
        portfolio = _ok(
            api.post("/api/v1/portfolios", json={"name": "Q3 launch", "description": "Launch"})
        )
        for title in ("Draft the Q3 launch plan", "Publish release notes", "Migrate billing to v2"):
            _ok(
                api.post(
                    f"/api/v1/portfolios/{portfolio['id']}/intents",
                    json={"intent_id": intents[title]},
                )
            )
    return Seeded(
        intents=intents, leases=leases, arbitrations=arbitrations, portfolio=portfolio["id"]
    )


def burst(app: OpenIntentApp, *keys: str) -> None:
    """Queue `keys` at once, the way one read from a terminal delivers fast typing or a paste.

    `pilot.press` waits for the app to go idle after every key, which hides races a real
    terminal shows; this does not wait at all."""
    driver = app._driver
    assert driver is not None
    for key in keys:
        char = key if len(key) == 1 else None
        event = events.Key(key, char)
        event.set_sender(app)
        driver.send_message(event)
