"""Issue 15, bugs 4-11 (bug 3 is in the intents paging work): what the console says when the
operator types something wrong, and the small lies it told. Each docstring says how the test
failed before the fix."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime

from textual.widgets._toast import Toast

from openintent_tui.cli import _connection, build_parser
from openintent_tui.contexts import parse_config
from openintent_tui.modals.lease_grant import LeaseGrantModal
from openintent_tui.screens.arbitration import ArbitrationScreen
from openintent_tui.screens.format import short_id
from openintent_tui.screens.intent_detail import IntentDetailScreen
from openintent_tui.screens.intents import IntentsScreen
from openintent_tui.screens.leases import LeasesScreen
from openintent_tui.widgets.command_line import CommandLine
from openintent_tui.widgets.status_bar import Crumbs
from tests.tui.tui_support import create_intent, make_app, seed, wait_until

SIZE = (130, 36)


def warnings(app) -> list[str]:
    return [message for severity, message in app.toasts if severity == "warning"]


async def run_verb(pilot, text: str) -> None:
    await pilot.press("colon", *text, "enter")


async def loaded(app, pilot) -> None:
    await wait_until(pilot, lambda: isinstance(app.screen, IntentsScreen) and app.screen.loaded)


# ---- bugs 4 and 10: :open --------------------------------------------------------------------


async def test_open_refuses_an_id_that_does_not_exist(server):
    """Before: a detail screen opened with every panel "…"."""
    seed(server)
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app, pilot)
        await run_verb(pilot, "open no-such-intent")
        await wait_until(pilot, lambda: warnings(app), what="a refusal")
        assert warnings(app)[-1].startswith("No intent 'no-such-intent': ")
        assert not any(isinstance(s, IntentDetailScreen) for s in app.screen_stack)


async def test_open_takes_the_short_id_or_a_unique_prefix(server):
    """Short ids were the first 8 characters: the UUIDv7 time, the same for intents created
    together, so they could not tell intents apart, and `:open` took only a full id."""
    with server.client() as api:
        first, second = (create_intent(api, title) for title in ("First", "Second"))
    assert first[:8] == second[:8]  # created within the same minute
    assert short_id(first) != short_id(second) and first.endswith(short_id(first))
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app, pilot)
        await run_verb(pilot, f"open {short_id(second)}")
        await wait_until(pilot, lambda: isinstance(app.screen, IntentDetailScreen))
        assert app.screen.intent_id == second
        await pilot.press("escape")
        await run_verb(pilot, f"open {first[:8]}")  # both start so: which one?
        await wait_until(pilot, lambda: warnings(app), what="ambiguity")
        assert warnings(app)[-1].startswith(f"2 intents match '{first[:8]}'")
        assert short_id(first) in warnings(app)[-1]
        await run_verb(pilot, f"open {first[:-4]}")  # a unique prefix
        await wait_until(pilot, lambda: isinstance(app.screen, IntentDetailScreen))
        assert app.screen.intent_id == first


# ---- bug 5: --server with the API prefix -------------------------------------------------------


async def test_server_url_printed_by_serve_is_recognised(server):
    """`serve` prints `…/api/v1`; given to --server it made every request `/api/v1/api/v1/…`
    (the console said the *server* could not list intents)."""
    args = build_parser().parse_args(["--server", f"{server.url}/api/v1/"])
    with _connection(args, parse_config("")) as connection:
        assert connection.url == server.url
    seed(server)
    app = make_app(server)
    app.connection = connection.__class__(
        name="cli", url=connection.url, api_key=server.api_key, operator="alice"
    )
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app, pilot)
        assert app.screen.table.row_count == 6


# ---- bug 6: ctrl+c -----------------------------------------------------------------------------


async def test_ctrl_c_hint_has_no_raw_markup(server):
    """Before: "Press [b]ctrl+q[/b] to quit the app" (our toasts never parse markup)."""
    app = make_app(server)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.press("ctrl+c")
        await wait_until(pilot, lambda: app.toasts, what="the hint")
        message = app.toasts[-1][1]
        assert "ctrl+q" in message and "[" not in message


# ---- bug 7: serve restarted ----------------------------------------------------------------------


def test_restarted_serve_says_the_key_was_read(tmp_path):
    """Before: every start said "generated and stored", also when it only read the key."""
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}
    for name in ("OPENINTENT_API_KEYS", "OPENINTENT_CONFIG", "OPENINTENT_DB"):
        env.pop(name, None)

    def first_line() -> str:
        with subprocess.Popen(
            [sys.executable, "-m", "backend", "--port", "0", "--db", str(tmp_path / "s.db")],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        ) as proc:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            proc.terminate()
            proc.wait(20)
        return line

    assert first_line().startswith("API key: generated and stored in ")
    assert first_line().startswith("API key: read from ")


# ---- bug 8: the filter ---------------------------------------------------------------------------


async def test_filter_hint_esc_and_no_match_message(server):
    """Before: "/ filter" showed on every screen; esc after enter left the leases view with
    its filter; a filter matching nothing said "No active leases." under "2 active leases"."""
    seed(server)
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app, pilot)
        await run_verb(pilot, "arb")
        await wait_until(pilot, lambda: isinstance(app.screen, ArbitrationScreen))
        assert "/ filter" not in str(app.screen.query_one(Crumbs).render())
        await run_verb(pilot, "leases")
        await wait_until(pilot, lambda: isinstance(app.screen, LeasesScreen) and app.screen.loaded)
        leases = app.screen
        assert "/ filter" in str(leases.query_one(Crumbs).render())
        await pilot.press("slash", *"zzz", "enter")
        assert leases.table.row_count == 0
        assert leases.table.empty_message().startswith("Nothing matches /zzz (2 hidden")
        assert "esc clear filter" in str(leases.query_one(Crumbs).render())
        await pilot.press("escape")  # clears the applied filter, stays here
        assert app.screen is leases and leases.table.row_count == 2
        await pilot.press("escape")  # then back
        await wait_until(pilot, lambda: isinstance(app.screen, IntentsScreen))


# ---- bug 9: command-line mistakes ---------------------------------------------------------------


async def test_command_line_mistakes_say_what_is_allowed(server):
    """Before: `:ctx` said "No context ''", a bogus status showed "No intents match." and an
    unknown option was ignored."""
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app, pilot)
        await run_verb(pilot, "ctx")
        await run_verb(pilot, "intents status=bogus")
        await run_verb(pilot, "intents foo=bar")
        await wait_until(pilot, lambda: len(warnings(app)) == 3, what="three warnings")
        ctx, status, option = warnings(app)
        assert ctx.startswith(":ctx needs a context name (known: ")
        assert status.startswith("Unknown status 'bogus' in :intents (allowed: draft, active")
        assert option == ":intents has no option foo= (allowed: status=, q=)"
        assert app.screen.status_filter is None


# ---- bug 11: sort arrow, lease duration, toasts and the : line ----------------------------------


async def test_sort_by_activity_shows_its_arrow(server):
    """Before: "LAST ACTIVITY ▲" did not fit its 14 columns and lost the arrow."""
    seed(server)
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app, pilot)
        await pilot.press("A")
        header = app.screen.table.render_line(0).text
        assert "LAST ACTIVI… ▲" in header
        await pilot.press("A")
        assert "▼" in app.screen.table.render_line(0).text


def test_lease_duration_accepts_units():
    """Before: only digits; "5m" was refused without saying seconds were expected."""
    from openintent_tui.modals.lease_grant import parse_duration

    assert [parse_duration(t) for t in ("300", "90s", "5m", "1h30m", "2d")] == [
        300,
        90,
        300,
        5400,
        172800,
    ]
    assert [parse_duration(t) for t in ("", "0", "5x", "m5", "-3", "5m3")] == [None] * 6


async def test_lease_duration_field_has_a_label_and_takes_5m(server):
    seeded = seed(server)
    target = seeded.intents["Evaluate vendor contracts"]
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app, pilot)
        app.open_intent(target)
        await wait_until(pilot, lambda: isinstance(app.screen, IntentDetailScreen))
        await wait_until(pilot, app.screen.loaded.is_set)
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, LeaseGrantModal))
        modal = app.screen
        assert "seconds" in str(modal.query_one("#grant-duration-label").render())
        modal.query_one("#grant-duration").value = "5 minutes"
        await pilot.press(*"legal", "tab", *"review", "enter")
        assert "Not a duration: '5 minutes'" in str(modal.query_one("#grant-hint").render())
        modal.query_one("#grant-duration").value = "5m"
        await pilot.press("enter")
        await wait_until(pilot, lambda: not isinstance(app.screen, LeaseGrantModal))
        await wait_until(pilot, lambda: leases_of(server, target), what="the lease")
        [lease] = leases_of(server, target)
        span = datetime.fromisoformat(lease["expires_at"]) - datetime.fromisoformat(
            lease["acquired_at"]
        )
        assert lease["scope"] == "review" and round(span.total_seconds()) == 300


def leases_of(server, intent_id: str) -> list[dict]:
    with server.client() as api:
        return api.get(f"/api/v1/intents/{intent_id}/leases").json()["leases"]


async def test_a_toast_does_not_cover_the_command_line(server):
    """Before: toasts sat one line above the bottom edge, over the open `:` line."""
    app = make_app(server)
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await loaded(app, pilot)
        await pilot.press("colon")
        app.notify("something happened")
        command = app.screen.query_one(CommandLine)
        await wait_until(pilot, lambda: app.screen.query(Toast), what="a toast")
        await pilot.pause()
        for toast in app.screen.query(Toast):
            assert not toast.region.overlaps(command.region), (toast.region, command.region)
