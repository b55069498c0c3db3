"""SSE streams against a real server: framing, resume, scopes, filters, errors."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support import LiveServer, run_server

_LINES: dict[int, Iterator[str]] = {}


def lines_of(response: httpx.Response) -> Iterator[str]:
    """httpx lets a body be iterated once: keep one line iterator per response."""
    key = id(response)
    if key not in _LINES:
        _LINES[key] = response.iter_lines()
    return _LINES[key]


def frames(response: httpx.Response) -> Iterator[dict]:
    """Parse an SSE body into messages {id, event, data, comments}: comments are kept so
    tests can see keep-alives."""
    message: dict = {"comments": []}
    for line in lines_of(response):
        if line == "":
            if "data" in message or message["comments"]:
                yield message
            message = {"comments": []}
        elif line.startswith(":"):
            message["comments"].append(line[1:].strip())
        else:
            field, _, value = line.partition(":")
            message[field] = value.removeprefix(" ")


def read_events(response: httpx.Response, count: int) -> list[dict]:
    events: list[dict] = []
    if count == 0:
        return events
    for message in frames(response):
        if "data" in message:
            events.append(message)
            if len(events) == count:
                break
    return events


def new_intent(api: httpx.Client, title: str = "streamed") -> str:
    response = api.post("/api/v1/intents", json={"title": title})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def comment(api: httpx.Client, intent_id: str, n: int) -> dict:
    response = api.post(
        f"/api/v1/intents/{intent_id}/events", json={"event_type": "comment", "payload": {"n": n}}
    )
    assert response.status_code == 201, response.text
    return response.json()


def stream(api: httpx.Client, path: str, **kwargs):
    return api.stream("GET", path, timeout=httpx.Timeout(10, read=10), **kwargs)


def test_frames_carry_global_sequence_type_and_event_json(server: LiveServer, api):
    intent_id = new_intent(api)
    with stream(api, f"/api/v1/intents/{intent_id}/subscribe") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        assert (
            next(lines_of(response)) == ": connected"
        )  # sent before any event: the client knows it is live
        posted = [comment(api, intent_id, n) for n in range(3)]
        got = read_events(response, 3)
    assert [int(m["id"]) for m in got] == [e["global_sequence"] for e in posted]
    assert [m["event"] for m in got] == ["comment"] * 3
    data = [json.loads(m["data"]) for m in got]
    assert [d["id"] for d in data] == [e["id"] for e in posted]
    assert all(d["intent_id"] == intent_id for d in data)
    assert [d["payload"]["n"] for d in data] == [0, 1, 2]


def test_reconnect_with_last_event_id_has_no_gap_and_no_duplicate(server, api):
    intent_id = new_intent(api)
    expected = []
    with stream(api, f"/api/v1/intents/{intent_id}/subscribe") as response:
        expected += [comment(api, intent_id, n)["global_sequence"] for n in range(10)]
        first = read_events(response, 4)  # disconnect mid-stream, 6 events unread
    expected += [comment(api, intent_id, n)["global_sequence"] for n in range(10, 20)]
    last_id = first[-1]["id"]
    headers = {"Last-Event-ID": last_id}
    with stream(api, f"/api/v1/intents/{intent_id}/subscribe", headers=headers) as response:
        second = read_events(response, 16)
        expected += [comment(api, intent_id, n)["global_sequence"] for n in range(20, 25)]
        second += read_events(response, 5)  # the replay hands over to live without a seam
    received = [int(m["id"]) for m in first + second]
    assert received == expected


def test_since_replays_on_the_reference_path_and_the_global_stream(server, api):
    a, b = new_intent(api, "a"), new_intent(api, "b")
    seqs = [comment(api, a if n % 2 else b, n)["global_sequence"] for n in range(6)]
    start = seqs[1]
    with stream(api, f"/api/v1/subscribe/intents/{a}?since={start}") as response:
        got = read_events(response, 2)
    assert [int(m["id"]) for m in got] == [seqs[3], seqs[5]]  # only intent a, after `since`
    with stream(api, f"/api/v1/events/stream?since={start}") as response:
        got = read_events(response, 4)
    assert [int(m["id"]) for m in got] == seqs[2:]  # every intent


def test_event_type_filter(server, api):
    intent_id = new_intent(api)
    path = f"/api/v1/intents/{intent_id}/subscribe?event_type=status_changed,state_patched"
    with stream(api, path) as response:
        comment(api, intent_id, 1)
        patched = api.post(
            f"/api/v1/intents/{intent_id}/state",
            json={"patches": [{"op": "set", "path": "/x", "value": 1}]},
            headers={"If-Match": "1"},
        )
        assert patched.status_code == 200, patched.text
        got = read_events(response, 1)
    assert got[0]["event"] == "state_patched"


def test_bad_requests_fail_before_streaming(server: LiveServer, api):
    intent_id = new_intent(api)
    missing = api.get("/api/v1/intents/no-such-intent/subscribe")
    assert missing.status_code == 404
    assert missing.json()["message"]
    assert api.get("/api/v1/subscribe/portfolios/no-such-portfolio").status_code == 404
    bad_type = api.get(f"/api/v1/intents/{intent_id}/subscribe?event_type=not_a_type")
    assert bad_type.status_code == 400
    assert bad_type.json()["errors"][0]["field"] == "event_type"
    bad_cursor = api.get("/api/v1/events/stream", headers={"Last-Event-ID": "abc"})
    assert bad_cursor.status_code == 400
    anonymous = httpx.get(f"{server.url}/api/v1/events/stream", timeout=5)
    assert anonymous.status_code == 401


def test_keepalive_comments_while_idle(tmp_path):
    with (
        run_server(tmp_path / "oi.db", sse_keepalive_seconds=0.05) as live,
        live.client() as api,
        stream(api, "/api/v1/events/stream") as response,
    ):
        comments = []
        for message in frames(response):
            comments += message["comments"]
            if "keepalive" in comments:
                break
    assert comments[0] == "connected"
    assert "keepalive" in comments


def test_agent_stream_follows_assignments(server, api):
    watched, other = new_intent(api, "watched"), new_intent(api, "other")
    with stream(api, "/api/v1/agents/agent-7/subscribe") as response:
        assigned = api.post(f"/api/v1/intents/{watched}/agents", json={"agent_id": "agent-7"})
        assert assigned.status_code == 201, assigned.text
        comment(api, other, 1)  # not the agent's intent, not by the agent: not streamed
        on_watched = comment(api, watched, 2)
        with server.client(agent_id="agent-7") as as_agent:
            by_agent = comment(as_agent, other, 3)  # the agent acted: streamed
        got = read_events(response, 4)
    # the SDK path follows agent_assigned with the uppercase signal the SDK's Agent
    # framework dispatches on (same id: one event)
    assert [m["event"] for m in got] == ["agent_assigned", "AGENT_ASSIGNED", "comment", "comment"]
    assert got[0]["id"] == got[1]["id"]
    signal = json.loads(got[1]["data"])
    assert (signal["intent_id"], signal["agent_id"]) == (watched, "agent-7")
    assert int(got[2]["id"]) == on_watched["global_sequence"]
    assert int(got[3]["id"]) == by_agent["global_sequence"]
    # the reference path serves the same scope without signals, and replays it from the log
    # (a replay uses today's assignments, so start after the intents' creation)
    since = int(got[0]["id"]) - 1
    with stream(api, f"/api/v1/subscribe/agents/agent-7?since={since}") as response:
        replayed = read_events(response, 3)
    assert [m["id"] for m in replayed] == [got[0]["id"], got[2]["id"], got[3]["id"]]
    assert [m["event"] for m in replayed] == ["agent_assigned", "comment", "comment"]


def test_sdk_paths_add_uppercase_signals(server, api):
    intent_id = new_intent(api)
    with stream(api, f"/api/v1/intents/{intent_id}/subscribe") as response:
        patched = api.post(
            f"/api/v1/intents/{intent_id}/state",
            json={"patches": [{"op": "set", "path": "/phase", "value": "review"}]},
            headers={"If-Match": "1"},
        )
        assert patched.status_code == 200, patched.text
        done = api.post(
            f"/api/v1/intents/{intent_id}/status",
            json={"status": "active"},
            headers={"If-Match": "2"},
        )
        assert done.status_code == 200, done.text
        got = read_events(response, 4)
    assert [m["event"] for m in got] == [
        "state_patched",
        "STATE_CHANGED",
        "status_changed",
        "STATUS_CHANGED",
    ]
    state_signal, status_signal = json.loads(got[1]["data"]), json.loads(got[3]["data"])
    assert state_signal["intent_id"] == intent_id
    assert state_signal["new_state"] == {"phase": "review"}
    assert (status_signal["intent_id"], status_signal["new_status"]) == (intent_id, "active")
    with stream(api, f"/api/v1/subscribe/intents/{intent_id}?since=0") as response:
        plain = read_events(response, 3)  # the reference path: events only
    assert [m["event"] for m in plain] == ["intent_created", "state_patched", "status_changed"]


def test_portfolio_stream_relays_member_intents(server, api):
    member, outsider = new_intent(api, "member"), new_intent(api, "outsider")
    created = api.post("/api/v1/portfolios", json={"name": "p"})
    assert created.status_code == 201, created.text
    portfolio_id = created.json()["id"]
    with stream(api, f"/api/v1/portfolios/{portfolio_id}/subscribe") as response:
        added = api.post(f"/api/v1/portfolios/{portfolio_id}/intents", json={"intent_id": member})
        assert added.status_code == 201, added.text
        comment(api, outsider, 1)
        on_member = comment(api, member, 2)
        got = read_events(response, 2)
    assert got[0]["event"] == "added_to_portfolio"
    assert int(got[1]["id"]) == on_member["global_sequence"]
    assert json.loads(got[1]["data"])["intent_id"] == member


def test_a_stream_that_is_never_read_does_not_hold_up_others(tmp_path):
    """A subscriber that stops reading overflows its small buffer; the others still get
    every event, and the stalled one gets all of them too once it reads (from the log)."""
    with run_server(tmp_path / "oi.db", sse_buffer_events=4) as live, live.client() as api:
        intent_id = new_intent(api)
        stalled = stream(api, f"/api/v1/intents/{intent_id}/subscribe")
        stalled_response = stalled.__enter__()
        try:
            with live.client() as other, stream(other, "/api/v1/events/stream") as live_one:
                read_live: list[dict] = []
                reader = threading.Thread(
                    target=lambda: read_live.extend(read_events(live_one, 50))
                )
                reader.start()
                posted = [comment(api, intent_id, n)["global_sequence"] for n in range(50)]
                reader.join(30)
            late = read_events(stalled_response, 50)
        finally:
            stalled.__exit__(None, None, None)
    assert [int(m["id"]) for m in read_live] == posted
    assert [int(m["id"]) for m in late] == posted


@pytest.mark.parametrize("path", ["/api/v1/events/stream", "/v1/events/stream"])
def test_global_stream_on_both_prefixes(server, api, path):
    with stream(api, path) as response:
        intent_id = new_intent(api)
        got = read_events(response, 1)
    assert got[0]["event"] == "intent_created"
    assert json.loads(got[0]["data"])["intent_id"] == intent_id


def test_shutdown_ends_open_streams_promptly_after_what_was_committed(tmp_path):
    """Open streams must not hold a stopping server for its whole grace period (10 s):
    each ends cleanly, after every event committed before the shutdown began."""
    with run_server(tmp_path / "oi.db") as live, live.client() as api:
        reader = live.client()  # outlives the server, to read what it sent last
        intent_id = new_intent(api)
        paths = [
            f"/api/v1/intents/{intent_id}/subscribe",  # the SDK's path
            f"/api/v1/subscribe/intents/{intent_id}",  # the reference's path
            "/api/v1/events/stream",
        ]
        contexts = [stream(reader, path) for path in paths]
        responses = [context.__enter__() for context in contexts]
        comment(api, intent_id, 1)
        for response in responses:  # each stream is live
            assert json.loads(read_events(response, 1)[0]["data"])["payload"] == {"n": 1}
        comment(api, intent_id, 2)
        started = time.monotonic()
    stopped = time.monotonic() - started
    try:
        assert stopped < 3, f"shutdown took {stopped:.1f} s with streams open"
        for response in responses:  # the rest of each body, until the server ends it
            rest = [json.loads(m["data"]) for m in frames(response) if "data" in m]
            assert [e["payload"] for e in rest if e.get("event_type") == "comment"] == [{"n": 2}]
    finally:
        for context in contexts:
            context.__exit__(None, None, None)
        reader.close()
