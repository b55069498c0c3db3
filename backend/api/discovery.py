"""Public documents: discovery (`/.well-known/openintent.json`) and health."""

from __future__ import annotations

import functools

from litestar import Request, get

from ..wire.base import Response as WireResponse
from ..wire.intents import JSONObject

PROTOCOL_NAME = "OpenIntent Coordination Protocol"
PROTOCOL_VERSION = "0.1"
OPENAPI_URL = "/docs/openapi.json"


class Discovery(WireResponse):
    protocol: str
    version: str
    implementation: str
    implementation_version: str
    capabilities: list[str]
    openApiUrl: str
    endpoints: JSONObject


class Health(WireResponse):
    status: str
    version: str


@functools.cache  # reading package metadata scans site-packages: once per process is enough
def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("openintent-tui")
    except PackageNotFoundError:
        return "0+unknown"


@get("/.well-known/openintent.json", summary="Discovery", tags=["discovery"], sync_to_thread=False)
def discovery(request: Request) -> Discovery:
    return Discovery(
        protocol=PROTOCOL_NAME,
        version=PROTOCOL_VERSION,
        implementation="openintent-tui",
        implementation_version=package_version(),
        capabilities=request.app.state.capabilities,
        openApiUrl=OPENAPI_URL,
        endpoints={"api": "/api/v1", "health": "/health", "docs": "/docs"},
    )


@get(["/health", "/api/v1/health"], summary="Liveness", tags=["discovery"], sync_to_thread=False)
def health() -> Health:
    return Health(status="ok", version=package_version())


PUBLIC_HANDLERS = [discovery, health]
