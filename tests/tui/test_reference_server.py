"""The console and its client against the official reference server (`openintent-server` from
`openintent[server]==0.17.0`), run live as a subprocess: what it implements decodes into our
`backend.wire` Structs with the data written; what it lacks is `Unavailable`, never a crash."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from textual.message import Message
from textual.worker import Worker, WorkerState

from backend.wire.events import Event, EventPage
from backend.wire.governance import Arbitration, Decision
from backend.wire.intents import AgentAssignment, Intent
from backend.wire.leases import Lease
from backend.wire.portfolios import Membership, Portfolio, PortfolioDetail
from backend.wire.retries import Failure, RetryPolicy
from openintent_tui.app import OpenIntentApp
from openintent_tui.client import (
    ConflictError,
    ConnectionState,
    EventStream,
    NotFoundError,
    OpenIntentClient,
    Unavailable,
    connect,
)
from openintent_tui.client.reference.adapters import masked_key
from openintent_tui.contexts import ConnectionInfo
from openintent_tui.screens.arbitration import ArbitrationScreen
from openintent_tui.screens.events import EventsScreen
from openintent_tui.screens.help import HelpScreen
from openintent_tui.screens.intent_detail import IntentDetailScreen
from openintent_tui.screens.intents import IntentsScreen
from openintent_tui.screens.leases import LeasesScreen
from openintent_tui.screens.overview import OverviewScreen
from openintent_tui.screens.portfolios import PortfolioScreen, PortfoliosScreen
from openintent_tui.widgets.event_tail import EventTail
from openintent_tui.widgets.status_bar import StatusBar
from tests.tui.reference_server import ReferenceServer
from tests.tui.test_screens import screen_is
from tests.tui.tui_support import wait_until

OPERATOR = "alice"


@pytest.fixture
async def ref(reference_server: ReferenceServer) -> AsyncIterator[OpenIntentClient]:
    async with await connect(
        reference_server.url, reference_server.api_key, agent_id=OPERATOR
    ) as client:
        assert client.dialect == "reference"
        yield client


def utc(stamp: str | None) -> bool:
    return stamp is not None and stamp.endswith("+00:00")


# ---- what the reference implements ----------------------------------------------------------


async def test_intents_state_status_agents_and_the_log(ref: OpenIntentClient):
    # State values that look like the reference's quirks are the user's data: kept as written.
    state = {"parent_id": "mine", "due_at": "2026-01-01T10:00:00", "confidence": 0.5}
    created = await ref.create_intent(
        "Reference: lifecycle", description="d", state=state, constraints={"max_cost": 5}
    )
    assert isinstance(created, Intent)
    assert (created.title, created.description, created.state, created.constraints) == (
        "Reference: lifecycle",
        "d",
        state,
        {"max_cost": 5},
    )
    assert (created.status, created.version, created.confidence) == ("draft", 1, 0)
    assert utc(created.created_at) and utc(created.updated_at)
    assert created.created_by == masked_key(ref.api_key)  # it echoes the key: never shown

    fetched = await ref.get_intent(created.id)
    assert fetched == created

    patched = await ref.patch_state(
        created.id, 1, [{"op": "set", "path": "/outline", "value": {"sections": 4}}]
    )
    assert patched.version == 2 and patched.state == {**state, "outline": {"sections": 4}}
    with pytest.raises(ConflictError):
        await ref.patch_state(created.id, 1, [{"op": "set", "path": "/late", "value": 1}])
    active = await ref.set_status(created.id, 2, "active", reason="go")
    assert (active.status, active.version) == ("active", 3)

    child = await ref.create_child(created.id, "Reference: child")
    assert child.parent_intent_id == created.id  # sent as `parent_id`
    assert [c.id for c in await ref.children(created.id)] == [child.id]
    assert await ref.dependencies(created.id) == []

    assignment = await ref.assign_agent(created.id, "writer")
    assert isinstance(assignment, AgentAssignment) and assignment.agent_id == "writer"
    assert utc(assignment.assigned_at)
    assert [a.agent_id for a in await ref.list_agents(created.id)] == ["writer"]

    comment = await ref.log_event(created.id, "comment", {"text": "hello"})
    assert isinstance(comment, Event)
    assert (comment.event_type, comment.actor, comment.payload) == (
        "comment",
        OPERATOR,
        {"text": "hello"},
    )
    page = await ref.list_events(created.id)
    assert isinstance(page, EventPage)
    assert [e.event_type for e in page.events] == [  # oldest first, though it sends newest first
        "intent_created",
        "state_patched",
        "status_changed",
        "agent_assigned",
        "comment",
    ]
    assert page.events[-1].id == comment.id and all(utc(e.created_at) for e in page.events)


async def test_missing_intent_is_not_found_not_unavailable(ref: OpenIntentClient):
    with pytest.raises(NotFoundError) as missing:
        await ref.get_intent("no-such-intent")
    assert not isinstance(missing.value, Unavailable)
    assert missing.value.message == "Intent not found"


async def test_leases_acquire_conflict_renew_release(ref: OpenIntentClient):
    intent = await ref.create_intent("Reference: leases")
    lease = await ref.acquire_lease(intent.id, "draft", 60, agent_id="writer")
    assert isinstance(lease, Lease)
    assert (lease.intent_id, lease.scope, lease.status) == (intent.id, "draft", "active")
    assert lease.agent_id == masked_key(ref.api_key)  # the holder it records is the key
    assert utc(lease.expires_at) and lease.created_at == lease.acquired_at
    with pytest.raises(ConflictError):
        await ref.acquire_lease(intent.id, "draft", 60, agent_id="intruder")
    assert [x.id for x in await ref.intent_leases(intent.id)] == [lease.id]

    renewed = await ref.renew_lease(intent.id, lease.id, 600)
    assert renewed.id == lease.id and renewed.expires_at > lease.expires_at
    released_now = await ref.release_lease(intent.id, lease.id)  # it answers {"message"}
    assert released_now is not None and (released_now.id, released_now.status) == (
        lease.id,
        "released",
    )
    # It lists released leases too, without a status: active ones are picked out here.
    assert await ref.intent_leases(intent.id) == []
    released = await ref.intent_leases(intent.id, status="all")
    assert [(x.id, x.status) for x in released] == [(lease.id, "released")]
    assert utc(released[0].released_at)


async def test_costs_retry_policy_failures_attachments(ref: OpenIntentClient):
    intent = await ref.create_intent("Reference: resources")
    cost = await ref.record_cost(
        intent.id, "tokens", 1200, "tokens", provider="acme", metadata={"model": "m"}
    )
    assert (cost.amount, cost.unit, cost.agent_id, cost.metadata) == (
        1200,
        "tokens",
        OPERATOR,
        {"model": "m"},  # stored as its `cost_metadata`
    )
    costs = await ref.get_costs(intent.id)
    assert [c.id for c in costs.costs] == [cost.id]
    assert (costs.summary.total, costs.summary.count) == (1200, 1)
    assert costs.summary.by_agent == {OPERATOR: 1200}

    assert await ref.get_retry_policy(intent.id) is None
    policy = await ref.set_retry_policy(
        intent.id, strategy="exponential", max_retries=5, base_delay_ms=100, max_delay_ms=900
    )
    assert isinstance(policy, RetryPolicy)
    assert (policy.strategy, policy.max_retries, policy.base_delay_ms, policy.max_delay_ms) == (
        "exponential",
        5,
        100,
        900,
    )
    assert await ref.get_retry_policy(intent.id) == policy

    failure = await ref.record_failure(
        intent.id, attempt_number=1, error_code="E_TIMEOUT", error_message="boom"
    )
    assert isinstance(failure, Failure)
    assert (failure.error_code, failure.error_message, failure.attempt_number) == (
        "E_TIMEOUT",
        "boom",
        1,
    )
    assert [f.id for f in await ref.list_failures(intent.id)] == [failure.id]

    attachment = await ref.add_attachment(
        intent.id, "spec.pdf", url="https://example.com/spec.pdf", mime_type="application/pdf"
    )
    assert (attachment.filename, attachment.storage_url, attachment.stored) == (
        "spec.pdf",
        "https://example.com/spec.pdf",
        False,
    )
    assert [a.id for a in await ref.list_attachments(intent.id)] == [attachment.id]
    with pytest.raises(Unavailable, match="reference a URL"):
        await ref.add_attachment(intent.id, "notes.txt", content=b"hello")
    with pytest.raises(Unavailable, match="not stored here"):
        await ref.attachment_content(attachment)  # never sends our key to example.com
    await ref.delete_attachment(intent.id, attachment.id)
    assert await ref.list_attachments(intent.id) == []


async def test_portfolios_with_members_and_progress(ref: OpenIntentClient):
    done = await ref.create_intent("Reference: shipped", status="active")
    await ref.set_status(done.id, done.version, "completed")
    open_one = await ref.create_intent("Reference: in progress", status="active")
    portfolio = await ref.create_portfolio("Reference launch", description="Q3")
    assert isinstance(portfolio, Portfolio)
    assert (portfolio.name, portfolio.description, portfolio.created_by) == (
        "Reference launch",
        "Q3",
        OPERATOR,
    )
    for intent in (done, open_one):
        membership = await ref.add_to_portfolio(portfolio.id, intent.id)
        assert isinstance(membership, Membership)
        assert (membership.portfolio_id, membership.intent_id) == (portfolio.id, intent.id)
    assert portfolio.id in [p.id for p in await ref.list_portfolios()]

    # It sends the bare portfolio: members and progress come from its member list.
    detail = await ref.get_portfolio(portfolio.id)
    assert isinstance(detail, PortfolioDetail)
    assert {i.id for i in detail.intents} == {done.id, open_one.id}
    assert detail.aggregate_status is not None
    assert (detail.aggregate_status.total, detail.aggregate_status.completion_percentage) == (
        2,
        50,
    )
    assert detail.aggregate_status.by_status == {"completed": 1, "active": 1}
    members = await ref.portfolio_intents(portfolio.id)
    assert members.aggregate_status.total == 2
    assert [p.id for p in await ref.intent_portfolios(done.id)] == [portfolio.id]

    finished = await ref.set_portfolio_status(portfolio.id, "completed")
    assert finished.status == "completed"
    await ref.remove_from_portfolio(portfolio.id, open_one.id)
    assert [i.id for i in (await ref.get_portfolio(portfolio.id)).intents] == [done.id]


async def test_arbitration_request_and_decision(ref: OpenIntentClient):
    intent = await ref.create_intent("Reference: arbitration")
    arbitration = await ref.request_arbitration(
        intent.id, "Which date?", [{"label": "July 1"}, {"label": "July 15"}], {"votes": 2}
    )
    assert isinstance(arbitration, Arbitration)
    assert (arbitration.reason, arbitration.requester_id, arbitration.status) == (
        "Which date?",
        OPERATOR,
        "pending",
    )
    assert [o.label for o in arbitration.options] == ["July 1", "July 15"]
    decision = await ref.record_decision(intent.id, "arbitration", "July 15", "more time")
    assert isinstance(decision, Decision)
    assert (decision.outcome, decision.decision_maker_id, decision.reasoning) == (
        "July 15",
        OPERATOR,
        "more time",
    )
    # It lists only RFC-0013 coordinator decisions; the ones POSTed come from its log.
    listed = await ref.list_decisions(intent.id)
    assert [(d.id, d.outcome, d.decision_maker_id, d.reasoning) for d in listed] == [
        (decision.id, "July 15", OPERATOR, "more time")
    ]
    assert all(isinstance(d, Decision) and utc(d.created_at) for d in listed)
    logged = {e.event_type: e for e in (await ref.list_events(intent.id)).events}
    # It stores both only as events: those are their records.
    assert logged["arbitration_requested"].id == arbitration.id
    assert logged["decision_recorded"].id == decision.id
    assert logged["decision_recorded"].actor == OPERATOR


# ---- what it lacks ------------------------------------------------------------------------------

LACKING = {
    "list intents": lambda c, i: c.list_intents(),
    "list all intents": lambda c, i: c.list_all_intents(),
    "global event log": lambda c, i: c.events_after(0),
    "list all leases": lambda c, i: c.list_leases(),
    "revoke a lease": lambda c, i: c.revoke_lease(i, "no-lease", "because"),
    "arbitration queue": lambda c, i: c.list_arbitrations(),
    "one arbitration": lambda c, i: c.get_arbitration("no-arbitration"),
    "an intent's arbitrations": lambda c, i: c.intent_arbitrations(i),
    "unassign an agent": lambda c, i: c.unassign_agent(i, "writer"),
    "delete a retry policy": lambda c, i: c.delete_retry_policy(i),
    "subscribe a webhook": lambda c, i: c.subscribe("https://example.com/hook", intent_id=i),
    "list subscriptions": lambda c, i: c.list_subscriptions(),
    "one subscription": lambda c, i: c.get_subscription("no-subscription"),
    "unsubscribe": lambda c, i: c.unsubscribe("no-subscription"),
    "webhook deliveries": lambda c, i: c.deliveries("no-subscription"),
    "health": lambda c, i: c.health(),
}


async def test_what_it_lacks_is_unavailable_never_a_decode_error(ref: OpenIntentClient):
    intent = await ref.create_intent("Reference: lacking")
    for what, call in LACKING.items():
        with pytest.raises(Unavailable) as unavailable:
            await call(ref, intent.id)
        assert "does not support" in unavailable.value.message, what


# ---- live events --------------------------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.states: list[ConnectionState] = []
        self.events: list[Event] = []

    async def until(self, predicate, what: str, limit: float = 10.0) -> None:
        deadline = asyncio.get_running_loop().time() + limit
        while not predicate():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out waiting for {what}: {self.states[-3:]}")
            await asyncio.sleep(0.02)


async def _consume(stream: EventStream, recorder: Recorder) -> None:
    async for event in stream.events():
        recorder.events.append(event)


async def test_event_stream_receives_live_events_from_its_sse(ref: OpenIntentClient):
    intent = await ref.create_intent("Reference: streamed", state={"n": 0})
    recorder = Recorder()
    stream = EventStream(ref, intent_id=intent.id, on_state=recorder.states.append)
    task = asyncio.create_task(_consume(stream, recorder))
    try:
        await recorder.until(
            lambda: recorder.states and recorder.states[-1].state == "live", "live"
        )
        assert [e.event_type for e in recorder.events] == ["intent_created"]  # backfilled
        await ref.patch_state(intent.id, 1, [{"op": "set", "path": "/n", "value": 1}])
        await ref.log_event(intent.id, "comment", {"text": "live"})
        await ref.set_status(intent.id, 2, "active")
        await recorder.until(lambda: len(recorder.events) >= 4, "live events")
        live = recorder.events[1:]
        assert [e.event_type for e in live] == ["state_patched", "comment", "status_changed"]
        assert all(e.intent_id == intent.id and utc(e.created_at) for e in live)
        # Its state and status frames carry the whole intent, not an event.
        assert live[0].payload["state"] == {"n": 1} and live[2].payload["status"] == "active"
        assert live[1].payload == {"text": "live"} and live[1].actor == OPERATOR
    finally:
        task.cancel()


async def test_a_reconnect_does_not_repeat_what_came_live(ref: OpenIntentClient):
    # Its intent frames carry the intent, not the event: the backfill after a reconnect
    # brings the same changes back under their logged ids.
    intent = await ref.create_intent("Reference: reconnect", state={"n": 0})
    recorder = Recorder()
    stream = EventStream(ref, intent_id=intent.id, on_state=recorder.states.append)

    async def session(count: int) -> None:
        recorder.states.clear()
        task = asyncio.create_task(_consume(stream, recorder))
        try:
            await recorder.until(
                lambda: recorder.states and recorder.states[-1].state == "live", "live"
            )
            if count:
                await ref.patch_state(intent.id, 1, [{"op": "set", "path": "/n", "value": 1}])
                await ref.set_status(intent.id, 2, "active")
            await recorder.until(lambda: len(recorder.events) >= count, "events")
            await asyncio.sleep(0.2)  # anything repeated would arrive by now
        finally:
            task.cancel()

    await session(3)
    await session(0)  # the same stream connects again and backfills
    assert [e.event_type for e in recorder.events] == [
        "intent_created",
        "state_patched",
        "status_changed",
    ]


async def test_global_stream_is_unavailable_not_offline(ref: OpenIntentClient):
    recorder = Recorder()
    stream = EventStream(ref, on_state=recorder.states.append)
    task = asyncio.create_task(_consume(stream, recorder))
    try:
        await recorder.until(
            lambda: recorder.states and recorder.states[-1].state != "connecting", "a state"
        )
        last = recorder.states[-1]
        assert last.state == "unavailable" and "does not support" in (last.error or "")
        assert not task.done()  # it keeps looking now and then; nothing raised
    finally:
        task.cancel()


# ---- the console, driven by keys --------------------------------------------------------------

SIZE = (130, 36)


def reference_app(server: ReferenceServer) -> OpenIntentApp:
    return OpenIntentApp(
        ConnectionInfo(name="reference", url=server.url, api_key=server.api_key, operator=OPERATOR)
    )


class WorkerErrors:
    """Collects every worker that ended in an exception: a screen that 'failed quietly'."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def __call__(self, message: Message) -> None:
        if isinstance(message, Worker.StateChanged) and message.state == WorkerState.ERROR:
            self.errors.append(f"{message.worker.name}: {message.worker.error!r}")


def seed_reference(server: ReferenceServer, title: str) -> dict[str, str]:
    """An intent with state, an agent, a cost, a held lease and a decision, in a portfolio."""
    with server.client() as api:

        def ok(response):
            assert response.status_code < 400, (response.status_code, response.text)
            return response.json()

        intent = ok(api.post("/api/v1/intents", json={"title": title, "state": {"draft": 1}}))
        iid = intent["id"]
        ok(api.post(f"/api/v1/intents/{iid}/agents", json={"agent_id": "writer"}))
        cost = {"agent_id": "writer", "cost_type": "tokens", "amount": 7, "unit": "tokens"}
        ok(api.post(f"/api/v1/intents/{iid}/costs", json=cost))
        ok(api.post(f"/api/v1/intents/{iid}/leases", json={"scope": "draft"}))
        decision = {"decision_type": "review", "decided_by": "lead", "outcome": "ship it"}
        ok(api.post(f"/api/v1/intents/{iid}/decisions", json=decision))
        portfolio = ok(
            api.post("/api/v1/portfolios", json={"name": f"{title} pf", "created_by": "x"})
        )
        ok(api.post(f"/api/v1/portfolios/{portfolio['id']}/intents", json={"intent_id": iid}))
    return {"intent": iid, "portfolio": portfolio["id"]}


def text_of(screen, selector: str) -> str:
    return str(screen.query_one(selector).render())


async def test_every_view_renders_and_says_what_is_unavailable(
    reference_server: ReferenceServer,
):
    seeded = seed_reference(reference_server, "Reference: every view")
    watcher = WorkerErrors()
    app = reference_app(reference_server)
    async with app.run_test(size=SIZE, message_hook=watcher) as pilot:
        root = app.screen
        assert isinstance(root, IntentsScreen)
        await wait_until(pilot, lambda: root.unavailable is not None, what="intents refused")
        assert root.table.empty_text == (
            "This server cannot list intents: open one with :open ID and it shows here"
        )
        assert ("warning", "Listing intents: unavailable on this server") in app.toasts
        await wait_until(pilot, lambda: app.connection_state == "unavailable", what="state")
        status = text_of(app.screen, "StatusBar")
        assert "no live stream" in status and "GET /api/v1/events/stream" in status

        for key, kind, says in (
            ("2", LeasesScreen, "Leases: unavailable on this server (it cannot list all leases"),
            ("3", ArbitrationScreen, "Arbitration queue: unavailable on this server"),
        ):
            await pilot.press(key)
            await wait_until(pilot, screen_is(app, kind), what=kind.__name__)
            assert app.screen.table.empty_text.startswith(says)
            assert "no live stream" in text_of(app.screen, "StatusBar")

        await pilot.press("5")  # the overview: each panel says what this server lacks
        await wait_until(pilot, screen_is(app, OverviewScreen), what="overview")
        assert "unavailable on this server" in text_of(app.screen, "#counts")
        assert "unavailable on this server" in text_of(app.screen, "#body-leases")
        await pilot.press("6")
        await wait_until(pilot, screen_is(app, EventsScreen), what="events")
        assert "server-wide event log: unavailable" in app.screen.table.empty_text

        await pilot.press("4")  # portfolios work: members and progress from its member list
        await wait_until(pilot, screen_is(app, PortfoliosScreen), what="portfolios")
        portfolios = app.screen
        row = portfolios.table.get_row(seeded["portfolio"])
        assert row is not None and row.cells[0] == "Reference: every view pf"
        assert row.cells[3] == "1" and row.cells[4] == "draft 1"
        portfolios.table.move_to(seeded["portfolio"])
        await pilot.press("enter")
        await wait_until(pilot, screen_is(app, PortfolioScreen), what="portfolio")
        await wait_until(  # the member rows arrive after the screen does
            pilot,
            lambda: [r.key for r in app.screen.table.visible_rows] == [seeded["intent"]],
            what="the portfolio's member",
        )
        await pilot.press("escape")

        await pilot.press("question_mark")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), what="help")
        await pilot.press("escape")
        await pilot.press("colon", *"intents status=active", "enter")
        assert app.screen is root and root.status_filter == "active"
        await pilot.press("colon", *"bogus", "enter")
        assert any(m.startswith("Unknown command: bogus (try ") for _, m in app.toasts)

        await pilot.press("colon", *f"open {seeded['intent']}", "enter")
        detail = app.screen
        assert isinstance(detail, IntentDetailScreen)
        await wait_until(pilot, detail.loaded.is_set, what="detail loaded")
        assert "Reference: every view" in str(detail.intent.title)
        assert "writer" in text_of(detail, "#sec-agents")
        assert "draft" in text_of(detail, "#sec-leases")
        assert "(api key ..." in text_of(detail, "#sec-leases")  # its holder; key not shown
        assert reference_server.api_key not in text_of(detail, "#sec-leases")
        assert "7 tokens" in text_of(detail, "#sec-costs")
        assert "lead: ship it" in text_of(detail, "#sec-decisions")  # from its log
        assert "Cannot" not in text_of(detail, "#sec-related")
        assert text_of(detail, "#sec-arbitrations") != "…"
        tail = detail.query_one(EventTail)
        await wait_until(pilot, lambda: len(tail.lines) >= 4, what="the intent's log")
        assert "intent_created" in tail.lines[0][0]

        # An id the server does not know is refused with its reason, no screen opened.
        await pilot.press("colon", *"open nope", "enter")
        await wait_until(pilot, lambda: any("'nope'" in m for _, m in app.toasts), what="refusal")
        refusal = next(m for _, m in app.toasts if "'nope'" in m)
        assert refusal.startswith("No intent 'nope': ") and "Intent not found" in refusal
        assert app.screen is detail

        # Back on the list: it cannot list, so it shows the intents opened this session.
        await pilot.press("escape")
        assert app.screen is root
        await pilot.press("colon", *"intents", "enter")
        await wait_until(pilot, lambda: root.table.get_row(seeded["intent"]) is not None)
        assert [r.key for r in root.table.visible_rows] == [seeded["intent"]]
        assert "opened this session (this server cannot list intents)" in text_of(root, "#counts")
        assert app.is_running
    assert watcher.errors == []


async def test_an_open_intent_follows_its_own_stream(reference_server: ReferenceServer):
    seeded = seed_reference(reference_server, "Reference: followed")
    intent_id = seeded["intent"]
    app = reference_app(reference_server)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.connection_state == "unavailable", what="state")
        app.open_intent(intent_id)
        await wait_until(pilot, lambda: isinstance(app.screen, IntentDetailScreen))
        detail = app.screen
        await wait_until(pilot, detail.loaded.is_set, what="detail loaded")
        tail = detail.query_one(EventTail)
        await wait_until(pilot, lambda: len(tail.lines) >= 4, what="the intent's log")
        before = len(tail.lines)
        await wait_until(pilot, lambda: detail.own_stream_state == "live", what="own stream")
        status = str(detail.query_one(StatusBar).render())
        assert "no live stream" in status and "this intent ● live" in status
        with reference_server.client() as api:
            api.post(
                f"/api/v1/intents/{intent_id}/events",
                json={"event_type": "comment", "actor": "bot", "payload": {"text": "live"}},
            ).raise_for_status()
            api.post(
                f"/api/v1/intents/{intent_id}/state",
                json={"patches": [{"op": "set", "path": "/fresh", "value": True}]},
                headers={"If-Match": "1"},
            ).raise_for_status()
        await wait_until(
            pilot, lambda: any("comment" in line for line, _ in tail.lines), what="live comment"
        )
        assert len(tail.lines) > before
        # The state frame makes the screen re-read the intent.
        await wait_until(pilot, lambda: "fresh" in detail.intent.state, what="re-read")


async def test_mutations_it_supports_work_from_keys_and_those_it_lacks_toast(
    reference_server: ReferenceServer,
):
    with reference_server.client() as api:
        intent_id = api.post("/api/v1/intents", json={"title": "Reference: keys"}).json()["id"]
    watcher = WorkerErrors()
    app = reference_app(reference_server)
    async with app.run_test(size=SIZE, message_hook=watcher) as pilot:
        await wait_until(pilot, lambda: app.screen.unavailable is not None)
        app.open_intent(intent_id)
        await wait_until(pilot, lambda: isinstance(app.screen, IntentDetailScreen))
        detail = app.screen
        await wait_until(pilot, detail.loaded.is_set, what="detail loaded")
        await pilot.press("n", *"legal", "tab", *"review", "enter")  # the intent is prefilled
        await wait_until(pilot, lambda: "review" in text_of(detail, "#sec-leases"), what="lease")
        assert ("information", "Granted review to legal for 300 s") in app.toasts
        holder = masked_key(reference_server.api_key)
        assert (
            "warning",
            f"This server recorded the holder of review as {holder}, not legal",
        ) in app.toasts

        # Status and agents from the keyboard: it has no lifecycle rules, but takes these;
        # it has no route to unassign: a readable toast.
        await pilot.press("c", "1")  # draft -> the first next status, active
        await wait_until(pilot, lambda: detail.intent.status == "active", what="status")
        assert ("information", "“Reference: keys”: draft → active") in app.toasts
        await pilot.press("a", *"writer", "enter")
        await wait_until(pilot, lambda: "writer" in text_of(detail, "#sec-agents"), what="agent")
        await pilot.press("u", "y")
        await wait_until(pilot, lambda: any("Unassign" in m for _, m in app.toasts), what="toast")
        assert (
            "warning",
            "Unassign writer from “Reference: keys”: unavailable on this server",
        ) in app.toasts
        with reference_server.client() as api:
            agents = api.get(f"/api/v1/intents/{intent_id}/agents").json()
            assert api.get(f"/api/v1/intents/{intent_id}").json()["status"] == "active"
        assert [a["agent_id"] for a in agents] == ["writer"]

        # It cannot list leases: the view shows those of the intents opened this session.
        await pilot.press("2")
        await wait_until(pilot, screen_is(app, LeasesScreen), what="leases")
        screen = app.screen
        await wait_until(pilot, lambda: screen.table.row_count == 1, what="the granted lease")
        assert "opened this session: this server cannot list all leases" in text_of(
            screen, "#counts"
        )
        with reference_server.client() as api:
            stored = api.get(f"/api/v1/intents/{intent_id}/leases").json()
        assert [(x["scope"], x["released_at"]) for x in stored] == [("review", None)]

        # What it lacks: a readable toast, nothing changed, nothing crashed.
        await pilot.press("X", *"agent crashed", "enter", "y")
        await wait_until(pilot, lambda: any("Revoke" in m for _, m in app.toasts), what="toast")
        assert ("warning", "Revoke review: unavailable on this server") in app.toasts
        assert screen.table.row_count == 1 and app.is_running

        await pilot.press("e")
        await wait_until(pilot, lambda: any(m.startswith("Renewed") for _, m in app.toasts))
        await pilot.press("x", "y")
        await wait_until(pilot, lambda: screen.table.row_count == 0, what="released")
        assert any(m.startswith("Released review") for _, m in app.toasts)
        with reference_server.client() as api:
            stored = api.get(f"/api/v1/intents/{intent_id}/leases").json()
        assert stored[0]["released_at"] is not None
    assert watcher.errors == []
