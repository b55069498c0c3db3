"""The routes served by the lean path (api/fast.py), declared in one place: the hottest
(bench/README.md). `install` checks at start that none of them has a layer the lean path
would skip; a route that gains one must leave this table (or the lean path must run it)."""

from __future__ import annotations

from .events import lean_append_event, lean_list_events
from .fast import FastRoute
from .intents import lean_get_intent, lean_list_intents, lean_patch_state
from .leases import lean_acquire_lease, lean_release_lease

FAST_ROUTES = (
    FastRoute("GET", "/intents", lean_list_intents, reads_query=True),
    FastRoute("GET", "/intents/{intent_id:str}", lean_get_intent),
    FastRoute("POST", "/intents/{intent_id:str}/state", lean_patch_state),
    FastRoute("POST", "/intents/{intent_id:str}/events", lean_append_event),
    FastRoute("GET", "/intents/{intent_id:str}/events", lean_list_events, reads_query=True),
    FastRoute("POST", "/intents/{intent_id:str}/leases", lean_acquire_lease),
    FastRoute("DELETE", "/intents/{intent_id:str}/leases/{lease_id:str}", lean_release_lease),
)
