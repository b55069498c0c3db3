"""The HTTP core of the client: one httpx.AsyncClient, typed errors, decoding into Structs."""

from __future__ import annotations

from typing import Any, Self, TypeVar

import httpx
import msgspec

from backend.wire.headers import AGENT_ID, API_KEY, CONTENT_TYPE

from .api import NATIVE, Capabilities
from .errors import ClientError, ConnectionLost, error_for

T = TypeVar("T")

API = "/api/v1"
_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder()


def _body_of(response: httpx.Response) -> Any:
    try:
        return _decoder.decode(response.content) if response.content else None
    except msgspec.DecodeError:
        return response.text


def _drop_none(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is not None}


class BaseClient:
    """Holds the connection. Every request sends `X-API-Key` and `X-Agent-ID` (the operator).
    Decodes strictly into the wire Structs: our server's shapes are those Structs. Another
    dialect (`client.reference`) overrides `decode` and `reshape` to reshape first."""

    dialect = "native"
    capabilities: Capabilities = NATIVE

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        agent_id: str = "operator",
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.agent_id = agent_id
        self.timeout = timeout
        self.transport = transport
        headers = {"Accept": "application/json"}
        if api_key:
            headers[API_KEY.name] = api_key
        if agent_id:
            headers[AGENT_ID.name] = agent_id
        self.http = httpx.AsyncClient(
            base_url=self.base_url, headers=headers, timeout=timeout, transport=transport
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.http.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        agent_id: str | None = None,
        content: bytes | None = None,
    ) -> httpx.Response:
        """Send one request; a non-2xx answer raises the matching `ClientError`."""
        send_headers = dict(headers or {})
        if agent_id:
            send_headers[AGENT_ID.name] = agent_id
        if body is not None:
            content = _encoder.encode(body)
            send_headers.setdefault(CONTENT_TYPE.name, "application/json")
        try:
            response = await self.http.request(
                method,
                path,
                content=content,
                params=_drop_none(params or {}),
                headers=send_headers,
            )
        except httpx.TimeoutException as exc:
            raise ConnectionLost(f"{self.base_url}: timed out ({method} {path})", exc) from exc
        except httpx.TransportError as exc:
            raise ConnectionLost(f"{self.base_url}: {_reason(exc)}", exc) from exc
        if response.status_code >= 400:
            raise error_for(response.status_code, _body_of(response), f"{method} {path}")
        return response

    async def fetch(self, method: str, path: str, kind: type[T], **request: Any) -> T:
        """Request and decode into `kind`."""
        response = await self.request(method, path, **request)
        try:
            return self.decode(response.content, kind)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise ClientError(
                response.status_code,
                f"Unexpected response to {method} {path}: {exc}",
                _body_of(response),
            ) from exc

    def decode(self, content: bytes, kind: type[T]) -> T:
        return msgspec.json.decode(content, type=kind)

    async def raw(self, method: str, path: str, **request: Any) -> Any:
        """Request and return the parsed JSON as-is (for shapes with no wire Struct)."""
        return _body_of(await self.request(method, path, **request))

    def convert(self, raw: Any, kind: type[T], what: str) -> T:
        """Parsed JSON from `raw()` into `kind`; a shape that cannot be read is a
        `ClientError` naming `what`, never a decode exception."""
        try:
            return self.reshape(raw, kind)
        except (msgspec.ValidationError, TypeError) as exc:
            raise ClientError(200, f"Unexpected response to {what}: {exc}", raw) from exc

    def reshape(self, raw: Any, kind: type[T]) -> T:
        return msgspec.convert(raw, kind)


def _reason(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.ConnectError):
        return "cannot connect (is the server running?)"
    text = str(exc) or type(exc).__name__
    return f"connection lost ({text})"
