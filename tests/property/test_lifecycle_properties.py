"""Property tests for the intent lifecycle: the rules, then the real server driven by a
Hypothesis state machine with a model of status and version."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from backend.domain.errors import InvalidInput
from backend.domain.lifecycle import INITIAL_STATUSES, STATUSES, TRANSITIONS, check_transition
from tests.support import run_server

FINAL = {s for s, targets in TRANSITIONS.items() if not targets}


def reachable(start: str) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        for target in TRANSITIONS[todo.pop()]:
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def test_the_rules_accept_exactly_the_transition_table():
    for current in STATUSES:
        for target in STATUSES:
            if target in TRANSITIONS[current]:
                check_transition(current, target)
            else:
                with pytest.raises(InvalidInput):
                    check_transition(current, target)


def test_every_status_is_reachable_and_every_open_one_can_end():
    from_start = set().union(*(reachable(s) for s in INITIAL_STATUSES))
    assert from_start == set(STATUSES)
    for status in STATUSES:
        assert reachable(status) & FINAL, f"{status} can never end"
    assert {"completed", "abandoned"} == FINAL


_api: httpx.Client | None = None


@pytest.fixture(scope="module", autouse=True)
def live_api(tmp_path_factory) -> Iterator[None]:
    global _api
    with run_server(tmp_path_factory.mktemp("lifecycle") / "oi.db") as live, live.client() as api:
        _api = api
        yield
        _api = None


class Lifecycle(RuleBasedStateMachine):
    """One intent per run; each step asks for a status at the current or a stale version."""

    @initialize(initial=st.sampled_from(sorted(INITIAL_STATUSES)))
    def create(self, initial: str) -> None:
        assert _api is not None
        response = _api.post("/api/v1/intents", json={"title": "walk", "status": initial})
        assert response.status_code == 201, response.text
        body = response.json()
        self.id, self.status, self.version = body["id"], initial, body["version"]

    @rule(wanted=st.sampled_from(STATUSES), stale=st.booleans())
    def change_status(self, wanted: str, stale: bool) -> None:
        assert _api is not None
        version = self.version - 1 if stale else self.version
        response = _api.post(
            f"/api/v1/intents/{self.id}/status",
            json={"status": wanted},
            headers={"If-Match": str(version)},
        )
        body = response.json()
        if stale:
            assert response.status_code == 409, response.text
            assert body["current_version"] == self.version
        elif wanted in TRANSITIONS[self.status]:
            assert response.status_code == 200, response.text
            assert body["status"] == wanted
            assert body["version"] > self.version
            self.status, self.version = wanted, body["version"]
        else:
            assert response.status_code == 400, response.text
            assert {"detail", "message"} <= body.keys()

    @invariant()
    def server_agrees(self) -> None:
        if not hasattr(self, "id"):
            return
        assert _api is not None
        body = _api.get(f"/api/v1/intents/{self.id}").json()
        assert (body["status"], body["version"]) == (self.status, self.version)


Lifecycle.TestCase.settings = settings(
    max_examples=15, stateful_step_count=12, deadline=None, database=None
)
TestLifecycle = Lifecycle.TestCase
