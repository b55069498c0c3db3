"""A stopped server leaves nothing behind in its process.

Every test runs its servers inside the test process, hundreds per xdist worker; and the
embedded console starts one, as any program embedding `create_app` may, more than once. A
module-level cache keyed by per-app objects once kept every app ever built (~29,000 objects,
~7 MB each): a worker reached millions of objects, and its garbage collector's full passes
froze server and client together for seconds, which CI saw as requests timing out."""

from __future__ import annotations

import pytest

from tests.conftest import SERVER_STORES
from tests.support import live_apps, run_server


def exercise(live) -> None:
    """Requests through the paths that build per-handler state: bodies, integer query
    checks, path parameters, a refusal, federation's documents."""
    with live.client() as api:
        intent = api.post("/api/v1/intents", json={"title": "t"}).json()
        assert api.get("/api/v1/intents", params={"limit": 5, "offset": 0}).status_code == 200
        assert api.get(f"/api/v1/intents/{intent['id']}/events", params={"limit": 2}).is_success
        assert api.get("/api/v1/intents", params={"limit": "1e3"}).status_code == 400
        assert api.get("/.well-known/openintent-federation.json").status_code == 200


@pytest.mark.parametrize("store", SERVER_STORES)
def test_stopped_servers_do_not_accumulate(store, request, tmp_path):
    db = tmp_path / "oi.db" if store == "sqlite" else request.getfixturevalue("postgres_url")
    # Litestar keeps the last app that registered a module-level handler: warm up first.
    with run_server(db, federation_enabled=True) as live:
        exercise(live)
    baseline = live_apps()
    for _ in range(3):  # restarts on the same database, as an embedding program would
        with run_server(db, federation_enabled=True) as live:
            exercise(live)
    assert live_apps() <= baseline
