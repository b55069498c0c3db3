"""The SSE reader against a real server: live events, backfill, de-duplication, and a server
restart on the same db and port that the reader survives without losing or repeating events."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

from backend.wire.events import Event
from openintent_tui.client import Backoff, ConnectionState, EventStream, OpenIntentClient
from openintent_tui.client.stream import SSEParser, event_from_frame, head_sequence
from tests.support import LiveServer, run_server

WAIT = 30.0  # generous upper bound for anything to arrive; never an assertion on speed


class Recorder:
    """Runs a stream in a task; collects events and connection states."""

    def __init__(self, stream: EventStream) -> None:
        self.stream = stream
        self.events: list[Event] = []
        self.states: list[ConnectionState] = []
        stream.on_state = self.states.append
        self.task: asyncio.Task | None = None

    async def _run(self) -> None:
        async for event in self.stream.events():
            self.events.append(event)

    async def until(self, predicate, what: str) -> None:
        async with asyncio.timeout(WAIT):
            while not predicate():
                if self.task is not None and self.task.done():
                    self.task.result()
                await asyncio.sleep(0.02)

    async def live(self) -> None:
        await self.until(lambda: self.stream.state.state == "live", "live")


@asynccontextmanager
async def recording(stream: EventStream):
    recorder = Recorder(stream)
    recorder.task = asyncio.create_task(recorder._run())
    try:
        yield recorder
    finally:
        recorder.task.cancel()
        try:
            await recorder.task
        except asyncio.CancelledError:
            pass


def create(server: LiveServer, title: str) -> str:
    with server.client() as http:
        response = http.post("/api/v1/intents", json={"title": title})
        assert response.status_code == 201, response.text
        return response.json()["id"]


def test_parser_reads_frames_comments_and_multiline_data():
    parser = SSEParser()
    lines = [": keepalive", "", "id: 7", "event: comment", 'data: {"a":', "data: 1}", ""]
    frames = [f for f in map(parser.feed, lines) if f is not None]
    assert len(frames) == 1
    assert (frames[0].id, frames[0].event, frames[0].data) == ("7", "comment", '{"a":\n1}')
    assert event_from_frame(frames[0]) is None  # not an Event: ignored, no crash


async def test_head_sequence_finds_the_newest_event(server: LiveServer):
    async with OpenIntentClient(server.url, server.api_key) as oi:
        assert await head_sequence(oi) == 0
        for i in range(5):
            await oi.create_intent(f"t{i}")
        newest = (await oi.events_after(0)).events[-1].global_sequence
        assert await head_sequence(oi) == newest


async def test_live_events_after_a_given_point_each_once(server: LiveServer):
    async with OpenIntentClient(server.url, server.api_key) as oi:
        old = await oi.create_intent("before")
        seen = (await oi.events_after(0)).events[-1].global_sequence
        missed = await oi.create_intent("missed while offline")
        async with recording(EventStream(oi, after=seen)) as rec:
            await rec.live()
            live = await oi.create_intent("live")
            await rec.until(lambda: live.id in {e.intent_id for e in rec.events}, "live event")
        ids = [e.intent_id for e in rec.events]
        assert ids == [missed.id, live.id] and old.id not in ids
        sequences = [e.global_sequence for e in rec.events]
        assert sequences == sorted(set(sequences))
        assert [s.state for s in rec.states][:2] == ["connecting", "live"]


async def test_survives_a_server_restart_and_backfills(tmp_path):
    db = tmp_path / "restart.db"
    first_server = run_server(db)
    first = await asyncio.to_thread(first_server.__enter__)
    port = int(first.url.rsplit(":", 1)[1])
    await asyncio.to_thread(create, first, "one")
    second_server = run_server(db, port=port)
    async with OpenIntentClient(first.url, first.api_key) as oi:
        stream = EventStream(oi, after=0, backoff=Backoff(initial=0.5, maximum=2.0))
        async with recording(stream) as rec:
            await rec.live()
            await asyncio.to_thread(create, first, "two")
            await rec.until(lambda: len(rec.events) == 2, "two events")
            # Stop the server underneath the open stream (uvicorn force-exits the stream).
            await asyncio.to_thread(first_server.__exit__, None, None, None)
            await rec.until(lambda: stream.state.state == "reconnecting", "reconnecting")
            second = await asyncio.to_thread(second_server.__enter__)
            # Written as soon as the server is back, most likely before the reader is:
            # they must arrive once each, by backfill or replay.
            for title in ("three", "four"):
                await asyncio.to_thread(create, second, title)
            await rec.until(lambda: len(rec.events) >= 4, "backfilled events")
            await rec.live()
            await asyncio.to_thread(create, second, "five")
            await rec.until(lambda: len(rec.events) >= 5, "live after restart")
    await asyncio.to_thread(second_server.__exit__, None, None, None)
    titles = [e.payload.get("title") for e in rec.events]
    assert titles == ["one", "two", "three", "four", "five"]
    sequences = [e.global_sequence for e in rec.events]
    assert sequences == list(range(sequences[0], sequences[0] + 5))  # gapless, no repeats
    reconnecting = [s for s in rec.states if s.state == "reconnecting"]
    assert reconnecting and all(s.retry_in and s.retry_in > 0 for s in reconnecting)
    assert reconnecting[0].stale and "reconnecting in" in reconnecting[0].describe()
    assert rec.states[-1].state == "live"


async def test_per_intent_stream_replays_the_intent_log_then_follows(server: LiveServer):
    async with OpenIntentClient(server.url, server.api_key) as oi:
        intent = await oi.create_intent("watched")
        other = await oi.create_intent("other")
        await oi.log_event(intent.id, "comment", {"n": 1})
        async with recording(EventStream(oi, intent_id=intent.id)) as rec:
            await rec.live()
            await oi.log_event(other.id, "comment", {"n": 0})
            await oi.log_event(intent.id, "comment", {"n": 2})
            await rec.until(lambda: len(rec.events) >= 3, "intent events")
        assert [e.intent_id for e in rec.events] == [intent.id] * 3
        assert [e.sequence for e in rec.events] == [1, 2, 3]


async def test_wrong_key_goes_offline_without_crashing(server: LiveServer):
    async with OpenIntentClient(server.url, "wrong") as oi:
        async with recording(EventStream(oi, after=0)) as rec:
            await rec.until(lambda: rec.states and rec.states[-1].state == "offline", "offline")
        assert "API key" in (rec.states[-1].error or "")
