"""Issue 16 on intents: keyset pages in every sort stay complete while intents are written
between pages, counts by status, the search index's substring semantics, and hostile
cursors and queries are 400s, never 500s."""

from __future__ import annotations

import base64
import sqlite3
from typing import get_args

import pytest

from backend.store.sqlite.schema import migrate
from backend.wire.intents import IntentSort
from tests.backend.test_intents_api import assert_error

API = "/api/v1"
SORTS = get_args(IntentSort)


def create(api, **body) -> dict:
    response = api.post(f"{API}/intents", json={"title": "t", **body})
    assert response.status_code == 201, response.text
    return response.json()


def patch(api, intent: dict) -> dict:
    response = api.post(
        f"{API}/intents/{intent['id']}/state",
        json={"state": {"touched": True}},
        headers={"If-Match": str(intent["version"])},
    )
    assert response.status_code == 200, response.text
    return response.json()


def walk(api, sort: str, between=None, **params) -> list[str]:
    """Every id by following next_cursor from the first page (2 a page)."""
    seen: list[str] = []
    page = api.get(f"{API}/intents", params={"limit": 2, "sort": sort, **params}).json()
    while True:
        seen += [i["id"] for i in page["intents"]]
        if page["next_cursor"] is None:
            assert page["next_offset"] is None or "cursor" not in params
            return seen
        if between:
            between()
        page = api.get(
            f"{API}/intents", params={"limit": 2, "cursor": page["next_cursor"], **params}
        ).json()


@pytest.mark.parametrize("sort", SORTS)
def test_keyset_pages_miss_nothing_and_repeat_nothing_while_intents_are_written(api, sort):
    existing = [create(api, title=f"row {n}") for n in range(7)]
    # Distinct updated_at order from created order: patch every other one.
    for intent in existing[::2]:
        patch(api, intent)
    written: list[dict] = []
    seen = walk(api, sort, between=lambda: written.append(create(api, title="between")))
    assert len(seen) == len(set(seen)), "a row came twice"
    assert {i["id"] for i in existing} <= set(seen), "a row present from the start was skipped"
    # The order is the sort's: compare with the full list read in one page.
    everything = api.get(f"{API}/intents", params={"limit": 1000, "sort": sort}).json()
    order = [i["id"] for i in everything["intents"]]
    assert [i for i in order if i in seen] == seen
    if sort.startswith("-"):  # newest first: rows written meanwhile are before the cursor
        assert not {w["id"] for w in written} & set(seen)


def test_keyset_keeps_the_filter_and_the_cursor_keeps_its_sort(api):
    for n in range(5):
        create(api, title=f"alpha {n}", status="active")
        create(api, title=f"beta {n}")
    active = walk(api, "created_at", status="active")
    assert len(active) == 5
    first = api.get(f"{API}/intents", params={"limit": 2, "sort": "updated_at"}).json()
    # Without sort, a cursor continues its own sort; with another sort it is refused.
    again = api.get(f"{API}/intents", params={"cursor": first["next_cursor"]})
    assert again.status_code == 200
    assert_error(
        api.get(f"{API}/intents", params={"cursor": first["next_cursor"], "sort": "-created_at"}),
        400,
    )
    assert_error(
        api.get(f"{API}/intents", params={"cursor": first["next_cursor"], "offset": 2}), 400
    )
    # offset paging is unchanged and also hands out a cursor.
    by_offset = api.get(f"{API}/intents", params={"limit": 4, "offset": 4}).json()
    assert by_offset["next_offset"] == 8 and by_offset["next_cursor"]
    assert by_offset["total"] == 10


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


HOSTILE_CURSORS = [
    "garbage",
    "%%%",
    "",
    _b64(b"[]"),
    _b64(b'["-created_at"]'),
    _b64(b'["sideways", null, 1]'),
    _b64(b'["-created_at", null, "1"]'),
    _b64(b'["-created_at", null, 1e400]'),
    _b64(b'["-created_at", null, 99999999999999999999999]'),
    _b64(b'{"a": 1}'),
    _b64(b"\xff\xfe"),
    "A" * 600,
    "é",
    "\x00",
]


def test_a_cursor_it_did_not_hand_out_is_a_400(api):
    create(api)
    for cursor in HOSTILE_CURSORS:
        response = api.get(f"{API}/intents", params={"cursor": cursor})
        if cursor == "":  # an empty parameter is no cursor at all
            assert response.status_code in (200, 400), response.text
            continue
        assert_error(response, 400)


HOSTILE_QUERIES = [
    '"',
    '""',
    "a*",
    "*",
    "NEAR(a b)",
    "title:x",
    "{title}: x",
    "a OR b",
    "-x",
    "^x",
    "(",
    ")",
    "\\",
    "'",
    "\x00",
    "\x00abc",
    "%",
    "_",
    "é",
    "\U0001d518nicode",  # a mathematical fraktur U
    "a" * 5000,
    " ",
    "AND",
]


def test_hostile_search_text_never_fails_and_keeps_substring_semantics(api):
    titles = ['quote " inside', "star * inside", "NEAR(a b) literal", "plain words", "Ünïcode"]
    for title in titles:
        create(api, title=title, description="desc")
    for q in [*HOSTILE_QUERIES, "NEAR(A", "STAR *", "e wo", "inside"]:
        response = api.get(f"{API}/intents", params={"q": q})
        assert response.status_code == 200, (q, response.text)
        found = sorted(i["title"] for i in response.json()["intents"])
        expected = sorted(
            t for t in titles if q and (q.lower() in t.lower() or q.lower() in "desc")
        )
        if q.isascii():  # the scan folds ASCII only; the index folds all of Unicode
            assert found == expected, q
        assert response.json()["total"] == len(response.json()["intents"])


def test_search_matches_the_description_too(api):
    target = create(api, title="nothing here", description="The Quarterly LEDGER audit")
    create(api, title="other", description="else")
    for q in ("ledger", "rly led", "quarterly ledger audit"):
        found = api.get(f"{API}/intents", params={"q": q}).json()
        assert [i["id"] for i in found["intents"]] == [target["id"]], q


def test_counts_follow_creates_and_status_changes(api):
    assert api.get(f"{API}/intents/counts").json() == {"total": 0, "by_status": {}}
    a = create(api, status="active")
    create(api)
    create(api)
    response = api.post(
        f"{API}/intents/{a['id']}/status",
        json={"status": "completed"},
        headers={"If-Match": str(a["version"])},
    )
    assert response.status_code == 200
    counts = api.get(f"{API}/intents/counts").json()
    assert counts == {"total": 3, "by_status": {"draft": 2, "completed": 1}}
    assert api.get(f"{API}/intents", params={"status": "draft"}).json()["total"] == 2
    assert api.get(f"{API}/intents").json()["total"] == 3


def test_the_search_index_and_counts_follow_updates_and_deletes_in_sql(tmp_path):
    """Nothing in the API renames or deletes an intent today; the triggers must still keep
    the index and the counts true if something does (a migration, an admin tool)."""
    conn = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
    migrate(conn)

    def add(rowid: int, title: str, status: str) -> None:
        conn.execute(
            "INSERT INTO intents (rowid, id, title, description, status, created_at, updated_at)"
            " VALUES (?, ?, ?, 'd', ?, 't', 't')",
            (rowid, f"id-{rowid}", title, status),
        )

    def matches(text: str) -> list[int]:
        return [
            r[0]
            for r in conn.execute(
                "SELECT rowid FROM intents_fts WHERE intents_fts MATCH ? ORDER BY rowid",
                (f'"{text}"',),
            )
        ]

    def counts() -> dict[str, int]:
        real = dict(conn.execute("SELECT status, COUNT(*) FROM intents GROUP BY status"))
        kept = dict(conn.execute("SELECT status, n FROM intent_counts WHERE n > 0"))
        assert kept == real
        return kept

    add(1, "old title", "draft")
    add(2, "another old one", "active")
    assert matches("old") == [1, 2] and counts() == {"draft": 1, "active": 1}
    conn.execute("UPDATE intents SET title = 'renamed' WHERE rowid = 1")
    assert matches("old") == [2] and matches("rename") == [1]
    conn.execute("UPDATE intents SET status = 'completed' WHERE rowid = 2")
    assert counts() == {"draft": 1, "completed": 1}
    conn.execute("DELETE FROM intents WHERE rowid = 2")
    assert matches("old") == [] and matches("another") == []
    assert counts() == {"draft": 1}
    conn.execute("INSERT INTO intents_fts (intents_fts) VALUES ('integrity-check')")


def follow(api, path: str, **params) -> tuple[list[str], list[dict]]:
    """The ids of every page by cursor (2 a page), and the pages."""
    key = path.rstrip("/").rsplit("/", 1)[-1]
    pages = [api.get(path, params={"limit": 2, **params}).json()]
    while pages[-1].get("next_cursor"):
        response = api.get(path, params={"limit": 2, "cursor": pages[-1]["next_cursor"], **params})
        assert response.status_code == 200, response.text
        pages.append(response.json())
    return [item["id"] for page in pages for item in page[key]], pages


def test_keyset_pages_on_leases_arbitrations_portfolios_and_subscriptions(api):
    intent = create(api, status="active")
    iid = intent["id"]
    made: dict[str, list[str]] = {"leases": [], "arbitrations": [], "portfolios": [], "subs": []}
    for n in range(5):
        lease = api.post(f"{API}/intents/{iid}/leases", json={"scope": f"s{n}"})
        made["leases"].append(lease.json()["id"])
        arbitration = api.post(f"{API}/intents/{iid}/arbitrate", json={"reason": f"r{n}"})
        made["arbitrations"].append(arbitration.json()["id"])
        portfolio = api.post(f"{API}/portfolios", json={"name": f"p{n}"})
        made["portfolios"].append(portfolio.json()["id"])
        subscription = api.post(f"{API}/subscriptions", json={"intent_id": iid})
        made["subs"].append(subscription.json()["id"])
    lists = {
        "leases": [f"{API}/intents/{iid}/leases", f"{API}/leases"],
        "arbitrations": [f"{API}/intents/{iid}/arbitrations", f"{API}/arbitrations"],
        "portfolios": [f"{API}/portfolios"],
        "subs": [f"{API}/subscriptions"],
    }
    for kind, paths in lists.items():
        for path in paths:
            ids, pages = follow(api, path)
            assert ids == made[kind], path  # oldest first, no gap, no repeat
            assert len(pages) == 3
            # A cursor from another list, or with an offset, is a 400.
            cursor = pages[0]["next_cursor"]
            other = f"{API}/portfolios" if kind != "portfolios" else f"{API}/leases"
            assert_error(api.get(other, params={"cursor": cursor}), 400)
            if kind != "leases":  # leases page by cursor only
                assert_error(api.get(path, params={"cursor": cursor, "offset": 1}), 400)
                by_offset = api.get(path, params={"limit": 2, "offset": 2}).json()
                assert by_offset["next_offset"] == 4
    # Written between pages: a new row comes once, at the end; none repeats.
    first = api.get(f"{API}/portfolios", params={"limit": 2}).json()
    late = api.post(f"{API}/portfolios", json={"name": "late"}).json()["id"]
    rest, _ = follow(api, f"{API}/portfolios")
    after = api.get(f"{API}/portfolios", params={"limit": 10, "cursor": first["next_cursor"]})
    assert [p["id"] for p in after.json()["portfolios"]] == [*made["portfolios"][2:], late]
    assert rest == made["portfolios"] + [late]
