"""The lean path serves exactly the routes declared in api/fast_routes.py, and an app whose
declared route has a layer the lean path would skip does not start."""

from __future__ import annotations

import msgspec
import pytest
from litestar import Litestar, Router
from litestar.datastructures import ResponseHeader
from litestar.di import Provide

from backend.api.fast import FastPathError, FastRoute, fast_layer, install
from backend.api.fast_routes import FAST_ROUTES
from backend.api.intents import IntentController, lean_get_intent
from backend.app import ALIAS_PREFIX, API_PREFIX, create_app
from backend.auth import api_key_middleware
from backend.settings import Settings


def test_every_declared_route_is_served_lean_under_both_prefixes(tmp_path):
    app = create_app(msgspec.structs.replace(Settings(), db=str(tmp_path / "a.db"), api_keys=["k"]))
    lean = {
        (method, route.path)
        for route in app.routes
        for handler in getattr(route, "route_handlers", ())
        for method in handler.http_methods
        if id(handler) in app.state.fast_routes
    }
    assert lean == {
        (r.method, prefix + r.path) for r in FAST_ROUTES for prefix in (API_PREFIX, ALIAS_PREFIX)
    }


async def _guard(connection, handler) -> None:
    return None


async def _provide_clock() -> str:
    return "now"


async def _after_response(request) -> None:
    return None


def _middleware(app):
    return app


def _app(**router_layers) -> Litestar:
    """The intents controller behind the same middleware as the real routers, plus layers."""
    middleware = [api_key_middleware, *router_layers.pop("extra_middleware", ()), fast_layer]
    api = Router(
        path=API_PREFIX,
        route_handlers=[IntentController],
        middleware=middleware,
        **router_layers,
    )
    return Litestar(
        route_handlers=[api], dependencies={"store": Provide(lambda: None, sync_to_thread=False)}
    )


ROUTE = (FastRoute("GET", "/intents/{intent_id:str}", lean_get_intent),)


def test_the_real_layers_pass():
    app = _app()
    install(app, ROUTE, (API_PREFIX,))
    assert len(app.state.fast_routes) == 1


@pytest.mark.parametrize(
    ("layers", "named"),
    [
        ({"guards": [_guard]}, "guards"),
        ({"dependencies": {"clock": Provide(_provide_clock)}}, r"dependencies \['clock'\]"),
        ({"extra_middleware": [_middleware]}, "middleware"),
        ({"after_response": _after_response}, "after_response"),
        ({"before_request": _after_response}, "before_request"),
        ({"after_request": _middleware}, "after_request"),
        ({"response_headers": [ResponseHeader(name="X-Frame", value="deny")]}, "response headers"),
    ],
)
def test_a_layer_the_lean_path_would_skip_stops_the_app(layers, named):
    with pytest.raises(FastPathError, match=named):
        install(_app(**layers), ROUTE, (API_PREFIX,))


def test_a_declared_route_that_does_not_exist_stops_the_app():
    missing = (FastRoute("GET", "/intents/{intent_id:str}/nothing", lean_get_intent),)
    with pytest.raises(FastPathError, match="no such route"):
        install(_app(), missing, (API_PREFIX,))
