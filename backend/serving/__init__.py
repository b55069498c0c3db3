"""How the app is served: uvicorn or granian on a socket `serve` binds, with the connection
limits both share (http_limits) and the exit both take after a second signal (shutdown)."""
