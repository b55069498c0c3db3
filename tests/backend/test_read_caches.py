"""The list reads answer what a fresh read would, whatever they keep between requests:
full pages of an event log (api/event_pages.py) and list-intents results on a SQLite reader
(store/sqlite/core.py: ReadCache), and the list answers each row's bytes exactly as the
single-row read does, for awkward values too."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

import msgspec
import pytest

from backend.api.event_pages import FullPages
from backend.store.sqlite import core
from backend.store.sqlite.core import ReadCache
from tests.support import run_server

API = "/api/v1"

AWKWARD = {
    "unicode": 'é ü 漢字 😀 \u2028 \x01 \x1f "quoted" back\\slash </script>',
    "floats": [0.1, 1e300, -2.5e-300, 123456789.125, 0.0, -1.5],
    "ints": [0, -1, 2**53 + 1, 2**63 - 1, -(2**63)],
    "nested": {"a": [{"b": {"c": [[], {}, [{}]]}}], "": {"": None}},
    "empty": {},
    "bools": [True, False, None],
}


class _RawList(msgspec.Struct):
    intents: list[msgspec.Raw] = []
    events: list[msgspec.Raw] = []


def _rows(body: bytes) -> list[bytes]:
    page = msgspec.json.decode(body, type=_RawList)
    return [bytes(raw) for raw in page.intents or page.events]


def test_list_rows_are_the_single_reads_bytes_for_awkward_values(api):
    ids = []
    for n, value in enumerate([AWKWARD, {}, {"x": AWKWARD["nested"]}]):
        created = api.post(
            f"{API}/intents",
            json={
                "title": f"awkward {n} 😀",
                "description": AWKWARD["unicode"],
                "constraints": value,
                "state": value,
                "governance_policy": value or None,
            },
        )
        assert created.status_code == 201, created.text
        ids.append(created.json()["id"])
    for iid, agent in [(ids[0], "b-agent"), (ids[0], "agent-ü"), (ids[0], "a"), (ids[2], "z")]:
        api.post(f"{API}/intents/{iid}/agents", json={"agent_id": agent}).raise_for_status()
    listed = _rows(api.get(f"{API}/intents?limit=10").content)
    singles = [api.get(f"{API}/intents/{i}").content for i in reversed(ids)]
    assert listed == singles
    assert msgspec.json.decode(singles[-1])["state"] == AWKWARD

    appended = [
        api.post(
            f"{API}/intents/{ids[0]}/events", json={"event_type": "comment", "payload": value}
        ).content
        for value in (AWKWARD, {}, {"deep": AWKWARD})
    ]
    # The first events are the intent's own (created, three agents assigned); a page that
    # ends before the last event is a full one, kept encoded: both answer the same rows.
    full = _rows(api.get(f"{API}/intents/{ids[0]}/events?cursor=4&limit=2").content)
    again = _rows(api.get(f"{API}/intents/{ids[0]}/events?cursor=4&limit=2").content)
    tail = _rows(api.get(f"{API}/intents/{ids[0]}/events?cursor=4").content)
    assert full == again == appended[:2]
    assert tail == appended


def test_an_event_page_that_reached_the_end_shows_the_next_append(api):
    iid = api.post(f"{API}/intents", json={"title": "tail"}).json()["id"]  # event 1
    events = f"{API}/intents/{iid}/events"

    def append(n: int) -> None:
        api.post(events, json={"event_type": "comment", "payload": {"n": n}}).raise_for_status()

    append(0)
    append(1)
    at_end = api.get(events, params={"limit": 3}).json()
    assert len(at_end["events"]) == 3 and at_end["next_cursor"] is None
    append(2)
    full = api.get(events, params={"limit": 3})
    assert full.json()["next_cursor"] == 3  # not the page kept from before the append
    append(3)
    assert api.get(events, params={"limit": 3}).content == full.content
    rest = api.get(events, params={"limit": 3, "cursor": 3}).json()
    assert [e["payload"] for e in rest["events"]] == [{"n": 2}, {"n": 3}]
    assert rest["next_cursor"] is None


def test_the_intents_list_shows_every_acknowledged_write_at_once(api):
    def first_page() -> dict:
        return api.get(f"{API}/intents", params={"limit": 5}).json()

    iid = api.post(f"{API}/intents", json={"title": "one"}).json()["id"]
    for _ in range(4):  # twice on each reader connection: kept, then answered
        assert [i["title"] for i in first_page()["intents"]] == ["one"]
    api.post(f"{API}/intents", json={"title": "two"}).raise_for_status()
    for _ in range(4):
        assert [i["title"] for i in first_page()["intents"]] == ["two", "one"]
    api.post(
        f"{API}/intents/{iid}/state", json={"state": {"k": 1}}, headers={"If-Match": "1"}
    ).raise_for_status()
    for _ in range(4):
        assert first_page()["intents"][1]["state"] == {"k": 1}
    api.post(f"{API}/intents/{iid}/agents", json={"agent_id": "a1"}).raise_for_status()
    for _ in range(4):
        assert first_page()["intents"][1]["agents"] == ["a1"]
    assert first_page()["total"] == 2


def test_the_intents_list_shows_a_write_by_another_process(tmp_path):
    db = tmp_path / "shared.db"
    with run_server(db) as server, server.client() as api:
        iid = api.post(f"{API}/intents", json={"title": "before"}).json()["id"]
        for _ in range(5):
            assert api.get(f"{API}/intents").json()["intents"][0]["title"] == "before"
        other = sqlite3.connect(db, isolation_level=None)  # as another process would
        try:
            other.execute("UPDATE intents SET title = 'after' WHERE id = ?", (iid,))
        finally:
            other.close()
        for _ in range(5):
            assert api.get(f"{API}/intents").json()["intents"][0]["title"] == "after"


def test_read_cache_answers_until_any_commit_and_stays_bounded(tmp_path, monkeypatch):
    db = str(tmp_path / "cache.db")
    writer = sqlite3.connect(db, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("CREATE TABLE t (x INTEGER)")
    reader = sqlite3.connect(db, isolation_level=None)
    cache = ReadCache()
    calls = []

    def count(conn: sqlite3.Connection) -> tuple[int, Callable[[], int]]:
        calls.append(1)
        return conn.execute("SELECT COUNT(*) FROM t").fetchone()[0], lambda: 10

    assert [cache.read(reader, "n", count) for _ in range(4)] == [0, 0, 0, 0]
    assert len(calls) == 2  # kept once asked a second time
    writer.execute("INSERT INTO t VALUES (1)")
    assert [cache.read(reader, "n", count) for _ in range(3)] == [1, 1, 1]
    assert len(calls) == 3

    monkeypatch.setattr(core, "READ_CACHE_ENTRIES", 3)
    monkeypatch.setattr(core, "READ_CACHE_ASKED", 3)
    monkeypatch.setattr(core, "READ_CACHE_TEXT_BYTES", 25)
    for key in range(10):  # a scan: asked once each, none kept
        cache.read(reader, key, count)
    assert list(cache._entries) == ["n"]
    for key in range(10):
        cache.read(reader, key, count)
        cache.read(reader, key, count)
    assert len(cache._entries) == 2 and cache._held == 20  # 25 bytes hold two of 10
    big = lambda conn: ("big", lambda: 26)  # noqa: E731
    assert [cache.read(reader, "big", big) for _ in range(2)] == ["big", "big"]
    assert "big" not in cache._entries  # answered, never kept
    writer.close()
    reader.close()


def test_full_pages_are_bounded_by_bytes_least_recently_used_first():
    pages = FullPages(max_bytes=10)
    pages.put("a", b"aaaa")
    pages.put("b", b"bbbb")
    assert pages.get("a") == b"aaaa"  # now the most recently used
    pages.put("c", b"cccc")
    assert pages.get("b") is None
    assert pages.get("a") == b"aaaa" and pages.get("c") == b"cccc"
    assert pages.held_bytes == 8
    pages.put("huge", b"x" * 11)
    assert pages.get("huge") is None and pages.held_bytes == 8


@pytest.mark.parametrize("limit", [1, 2])
def test_pages_read_twice_answer_the_same_bytes(api, limit):
    iid = api.post(f"{API}/intents", json={"title": "twice"}).json()["id"]
    for n in range(4):
        api.post(
            f"{API}/intents/{iid}/events", json={"event_type": "comment", "payload": {"n": n}}
        ).raise_for_status()
    url = f"{API}/intents/{iid}/events?limit={limit}"
    first = api.get(url)
    assert first.headers["content-type"] == "application/json"
    assert [api.get(url).content for _ in range(3)] == [first.content] * 3
    # A query only Litestar parses (`%31` is "1") answers from the same function.
    escaped = api.get(f"{API}/intents/{iid}/events?limit=%3{limit}")
    assert escaped.content == first.content
    assert escaped.headers["content-type"] == first.headers["content-type"]
