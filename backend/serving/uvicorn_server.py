"""uvicorn as the HTTP server (the default): `uvicorn.Server`, ending SSE streams first on
shutdown so its graceful wait is for real requests, not for clients that never leave."""

from __future__ import annotations

import socket

import uvicorn
from litestar import Litestar

from ..api.streams import end_streams


class Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, app: Litestar) -> None:
        super().__init__(config)
        self.litestar_app = app

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        end_streams(self.litestar_app)
        await super().shutdown(sockets)
