"""`create_app(settings)`: wiring only. Features live in `api/`, rules in `domain/`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from types import ModuleType

from litestar import Litestar, Router
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme

from .api import (
    agents,
    attachments,
    costs,
    discovery,
    events,
    federation,
    governance,
    intents,
    leases,
    oap,
    portfolios,
    retries,
    streams,
    subscriptions,
)
from .api.body import StrictRequest
from .api.event_pages import FullPages
from .api.fast import fast_layer
from .api.fast import install as install_fast_routes
from .api.fast_routes import FAST_ROUTES
from .api.openapi import SECURITY, ErrorDocs, NumberSchema
from .api.params import check_query_integers
from .auth import KeyRing, api_key_middleware
from .errors import EXCEPTION_HANDLERS, input_refusal_handlers
from .federation.service import Federation
from .settings import Settings
from .store import Store
from .store.sqlite import SqliteStore
from .wire.headers import API_KEY

# Each feature module exports CONTROLLERS and CAPABILITIES, and may export LIFESPANS:
# `asynccontextmanager` functions taking the app, entered after the store opens and left
# before it closes (background sweepers, workers, commit listeners). Discovery advertises
# exactly the capabilities of the modules listed here, so it never claims what it lacks.
FEATURES: list[ModuleType] = [
    intents,
    agents,
    events,
    leases,
    governance,
    attachments,
    costs,
    retries,
    portfolios,
    streams,
    subscriptions,
    federation,
    oap,
]


def open_store(settings: Settings) -> Store:
    """The store the `db` setting names: PostgreSQL for a postgresql:// URL, else SQLite."""
    if settings.postgres_url:
        from .store.postgres import PostgresStore  # asyncpg is loaded only when used

        return PostgresStore(
            settings.postgres_url,
            readers=settings.reader_connections,
            claim_seconds=settings.postgres_claim_seconds,
        )
    return SqliteStore(settings.db_path, readers=settings.reader_connections)


API_PREFIX = "/api/v1"
ALIAS_PREFIX = "/v1"  # the seed RFC tables' paths


def create_app(settings: Settings, store: Store | None = None) -> Litestar:
    store = store or open_store(settings)
    federation_runtime = Federation.from_settings(settings)  # None when disabled

    def provide_store() -> Store:
        # Without parameters on purpose: asking for `state` made Litestar build a State
        # copy for every request (measured in bench/README.md).
        return store

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await store.open()
        try:
            async with AsyncExitStack() as stack:
                for feature in FEATURES:
                    for hook in getattr(feature, "LIFESPANS", ()):
                        await stack.enter_async_context(hook(app))
                yield
        finally:
            await store.close()

    controllers = [c for feature in FEATURES for c in feature.CONTROLLERS]
    capabilities = sorted(
        {c for feature in FEATURES for c in feature.CAPABILITIES}
        | ({"federation"} if federation_runtime else set())
    )
    # `security` documents what api_key_middleware enforces; routes outside these routers
    # (health, discovery, the docs) are public and documented so.
    api = Router(
        path=API_PREFIX,
        route_handlers=controllers,
        middleware=[api_key_middleware, fast_layer],
        security=SECURITY,
    )
    alias = Router(
        path=ALIAS_PREFIX,
        route_handlers=controllers,
        middleware=[api_key_middleware, fast_layer],
        security=SECURITY,
        include_in_schema=False,
    )
    app = Litestar(
        route_handlers=[*discovery.PUBLIC_HANDLERS, *federation.PUBLIC_HANDLERS, api, alias],
        dependencies={"store": Provide(provide_store, sync_to_thread=False)},
        exception_handlers={**EXCEPTION_HANDLERS, **input_refusal_handlers(store.INPUT_REFUSALS)},
        plugins=[ErrorDocs(), NumberSchema()],
        lifespan=[lifespan],
        state=State(
            {
                "store": store,
                "settings": settings,
                "keyring": KeyRing(settings.api_keys, settings.api_key_hashes),
                "capabilities": capabilities,
                "federation": federation_runtime,
                "event_pages": FullPages(),
            }
        ),
        request_max_body_size=settings.max_body_bytes,
        request_class=StrictRequest,
        before_request=check_query_integers,
        # Logging belongs to whoever runs the app (CLI, console, tests): Litestar's default
        # would set the root logger to INFO with its own handler.
        logging_config=None,
        openapi_config=OpenAPIConfig(
            title="OpenIntent Coordination Protocol (openintent-tui)",
            version=discovery.package_version(),
            path="/docs",
            render_plugins=[ScalarRenderPlugin()],
            components=Components(
                security_schemes={
                    "apiKey": SecurityScheme(
                        type="apiKey", name=API_KEY.name, security_scheme_in="header"
                    )
                }
            ),
        ),
        debug=False,
    )
    install_fast_routes(app, FAST_ROUTES, (API_PREFIX, ALIAS_PREFIX))
    return app
