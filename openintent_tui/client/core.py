"""`OpenIntentClient`: every endpoint group, assembled from one mixin per resource."""

from __future__ import annotations

from .coordination import CoordinationAPI
from .federation import FederationAPI
from .intents import IntentsAPI
from .oap import AgentRoutingAPI
from .resources import ResourcesAPI


class OpenIntentClient(IntentsAPI, CoordinationAPI, ResourcesAPI, AgentRoutingAPI, FederationAPI):
    """Async client for our OpenIntent server (the native dialect of `api.ServerAPI`),
    decoding into the `backend.wire` Structs and raising the typed errors of `client.errors`.
    For a server that may be another implementation, use `client.connect()`.

        async with OpenIntentClient("http://127.0.0.1:8000", key, agent_id="alice") as oi:
            intent = await oi.create_intent("Ship it")
    """
