"""Counts by status (issue 16) stay equal to a real COUNT over the table, whatever sequence
of creates and status changes a Hypothesis state machine drives the real server through."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from backend.domain.lifecycle import INITIAL_STATUSES, STATUSES, TRANSITIONS
from tests.support import run_server

API = "/api/v1"
_api: httpx.Client | None = None
_db: Path | None = None


@pytest.fixture(scope="module", autouse=True)
def live_api(tmp_path_factory) -> Iterator[None]:
    global _api, _db
    _db = tmp_path_factory.mktemp("counts") / "oi.db"
    with run_server(_db) as live, live.client() as api:
        _api = api
        yield
        _api = _db = None


def real_counts() -> dict[str, int]:
    assert _db is not None
    conn = sqlite3.connect(f"file:{_db}?mode=ro", uri=True)
    try:
        return dict(conn.execute("SELECT status, COUNT(*) FROM intents GROUP BY status"))
    finally:
        conn.close()


class Counting(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.mine: list[tuple[str, str, int]] = []  # (id, status, version)

    @rule(initial=st.sampled_from(sorted(INITIAL_STATUSES)))
    def create(self, initial: str) -> None:
        assert _api is not None
        response = _api.post(f"{API}/intents", json={"title": "counted", "status": initial})
        assert response.status_code == 201, response.text
        self.mine.append((response.json()["id"], initial, response.json()["version"]))

    @rule(pick=st.integers(min_value=0), wanted=st.sampled_from(STATUSES))
    def change(self, pick: int, wanted: str) -> None:
        if not self.mine:
            return
        assert _api is not None
        index = pick % len(self.mine)
        intent_id, status, version = self.mine[index]
        response = _api.post(
            f"{API}/intents/{intent_id}/status",
            json={"status": wanted},
            headers={"If-Match": str(version)},
        )
        if wanted in TRANSITIONS[status]:
            assert response.status_code == 200, response.text
            self.mine[index] = (intent_id, wanted, response.json()["version"])
        else:
            assert response.status_code == 400, response.text

    @invariant()
    def counts_are_a_real_count(self) -> None:
        assert _api is not None
        real = real_counts()
        counts = _api.get(f"{API}/intents/counts").json()
        assert counts == {"total": sum(real.values()), "by_status": real}
        status = next(iter(real), "draft")
        listed = _api.get(f"{API}/intents", params={"status": status, "limit": 1}).json()
        assert listed["total"] == real.get(status, 0)


Counting.TestCase.settings = settings(
    max_examples=10, stateful_step_count=15, deadline=None, database=None
)
TestCounting = Counting.TestCase
