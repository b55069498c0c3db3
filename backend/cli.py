"""`openintent-tui serve` / `python -m backend`: run the server headless."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import math
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path

import msgspec

from .server_record import ConsolesGone, ServerLock, ServerRecord, ServerRunning
from .serving.shutdown import exit_without_closing
from .settings import (
    Settings,
    data_dir,
    ensure_api_key,
    generated_key_path,
    load_settings,
    private_data_dir,
)

UNUSED_POLL_SECONDS = 1.0


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="address to bind (default 127.0.0.1: loopback only)")
    parser.add_argument("--port", type=int, help="port (default 8000; 0 picks a free one)")
    parser.add_argument(
        "--db",
        help="SQLite file (default: in the platform data dir), or a PostgreSQL URL"
        " postgresql://user@host:port/dbname",
    )
    parser.add_argument(
        "--api-key",
        dest="api_keys",
        action="append",
        metavar="KEY",
        help="accepted X-API-Key (repeatable); default: a generated key in the data dir",
    )
    parser.add_argument("--config", type=Path, help="TOML config file ([server] table)")
    parser.add_argument("--log-level", help="server log level (default warning)")
    parser.add_argument(
        "--federation",
        dest="federation_enabled",
        action="store_true",
        default=None,
        help="enable federation (RFC-0022/0023); env OPENINTENT_FEDERATION_ENABLED",
    )
    parser.add_argument(
        "--identity",
        dest="federation_key_file",
        metavar="PATH",
        help="federation identity: 32-byte Ed25519 seed file (default: beside the database)",
    )
    parser.add_argument(
        "--rotate-identity",
        action="store_true",
        help="retire the federation key (it keeps verifying until its .retired-N file is"
        " deleted), create a new one, print both, and exit",
    )
    parser.add_argument(
        "--stop-when-unused",
        action="store_true",
        help="exit once no console holds <db>.consoles (how consoles run the bundled server)",
    )
    parser.add_argument(
        "--http",
        choices=["uvicorn", "granian"],
        help="HTTP server (default uvicorn; env OPENINTENT_HTTP, TOML http)",
    )


def settings_from_args(args: argparse.Namespace) -> Settings:
    overrides = {
        "host": args.host,
        "port": args.port,
        "db": args.db,
        "api_keys": args.api_keys,
        "log_level": args.log_level,
        "http": args.http,
        "federation_enabled": args.federation_enabled,
        "federation_key_file": args.federation_key_file,
    }
    return load_settings(overrides, config_file=args.config)


def serve(settings: Settings, *, announce=print, stop_when_unused: bool = False) -> None:
    """Run until SIGINT/SIGTERM; the server then finishes in-flight requests and the
    lifespan drains the writer queue and closes the database. `stop_when_unused`: also
    stop (the same graceful way) once no console uses it (`server_record.ConsolesGone`)."""
    from .app import create_app

    # Before anything else touches a SQLite database: a second server on it would write
    # beside the first while each one's live streams saw only its own writes. (Several
    # servers on one PostgreSQL database share the global sequence: no file lock there.)
    lock = None
    if settings.postgres_url is None:
        try:
            lock = ServerLock(settings.db_path.absolute()).acquire()
        except ServerRunning as exc:
            sys.exit(f"openintent-tui serve: {exc}")
        if settings.db_path.absolute().parent == data_dir().absolute():
            private_data_dir()
    existed = generated_key_path().exists()
    settings, key_file = ensure_api_key(settings)
    if key_file is not None:
        done = "read from" if existed else "generated and stored in"
        announce(f"API key: {done} {key_file} (mode 0600)")
    announce(f"database: {settings.db_display}")
    # Bound here, not by the HTTP server: with port 0 the app and the announcement must know
    # the port really served.
    sock = _bind(settings.host, settings.port)
    settings = msgspec.structs.replace(settings, port=sock.getsockname()[1])
    if lock is not None:
        lock.write(
            ServerRecord(
                pid=os.getpid(),
                url=_local_url(settings.host, settings.port),
                db=str(settings.db_path.absolute()),
            )
        )
    if stop_when_unused and lock is not None:
        _stop_when_unused(settings.db_path.absolute())
    app = create_app(settings)
    app.on_startup.append(_freeze_startup_objects)
    announce(f"serving the OpenIntent API on {settings.base_url}/api/v1")
    if settings.http == "granian":
        from .serving import granian_server

        sys.exit(granian_server.run(app, sock, settings, announce))
    import uvicorn

    from .serving import uvicorn_server
    from .serving.http_limits import BodyTimeout, guarded_protocol

    config = uvicorn.Config(
        BodyTimeout(app, settings.http_body_timeout_seconds),
        http=guarded_protocol(settings),
        # uvicorn's own keep-alive timer, kept in step with ours (0 disables both)
        timeout_keep_alive=math.ceil(settings.http_idle_timeout_seconds) or 10**9,
        log_level=settings.log_level,
        # Access lines are logged at INFO: above it they are never shown, so don't build them.
        access_log=settings.log_level.lower() in ("info", "debug", "trace"),
        lifespan="on",
        timeout_graceful_shutdown=10,
    )
    server = uvicorn_server.Server(config, app)
    # uvicorn handles SIGINT/SIGTERM while it runs (graceful shutdown), then re-raises the
    # signal against the handlers that were installed before it started. With the defaults
    # that kills the process by SIGTERM or raises KeyboardInterrupt after a clean shutdown;
    # no-op handlers let a clean shutdown end with exit status 0.
    if threading.current_thread() is threading.main_thread():  # as uvicorn itself checks
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, _ignore_after_shutdown)
    server.run(sockets=[sock])
    if server.force_exit:
        exit_without_closing(announce)
    if not server.started:
        sys.exit(1)


def _stop_when_unused(db: Path, interval: float = UNUSED_POLL_SECONDS) -> None:
    """A daemon thread: once no console holds a lease on `db`, SIGTERM this process (the
    graceful path, as if the last console had stopped it)."""
    gone = ConsolesGone(db)

    def watch() -> None:
        while not gone.check():
            time.sleep(interval)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="stop-when-unused", daemon=True).start()


def _freeze_startup_objects() -> None:
    """Once the app has started: everything alive now (modules, the app, its routes and
    OpenAPI schema, the store) lives as long as the process. Freezing it keeps the garbage
    collector's full passes from walking it again and again: those passes were the 40-50 ms
    p99 of every bench/load.py scenario (get intent p99 47 -> 7 ms, patch 55 -> 18 ms, and
    13-15% less CPU per request). Only for the server process (`serve`): tests that start
    many apps in one process must not pin each one's objects for good."""
    gc.collect()
    gc.freeze()


def _local_url(host: str, port: int) -> str:
    """How a process on this machine reaches the server (a wildcard bind answers on
    loopback too)."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _bind(host: str, port: int) -> socket.socket:
    family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only for that proto (40 ms stalls else).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(address)
    return sock


def _ignore_after_shutdown(signum: int, frame: object) -> None:
    """Receives the signal uvicorn re-raises once its graceful shutdown is done."""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="openintent-tui serve", description=__doc__)
    add_serve_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.rotate_identity:
        rotate_identity_command(settings_from_args(args))
        return
    serve(
        settings_from_args(args),
        announce=lambda line: print(line, flush=True),
        stop_when_unused=args.stop_when_unused,
    )


def rotate_identity_command(settings: Settings, announce=print) -> None:
    from .federation.config import load_federation_config
    from .federation.identity import load_identity, rotate_identity

    config = load_federation_config(settings)
    if config.key_file is None:  # the PostgreSQL database holds it
        asyncio.run(_rotate_stored_identity(settings, announce))
        return
    old = load_identity(config.key_file, config.server_did).public_key_b64
    retired = rotate_identity(config.key_file)
    new = load_identity(config.key_file, config.server_did).public_key_b64
    announce(f"federation identity {config.key_file}: new key {new}")
    announce(f"retired key {old} kept in {retired}: delete that file to stop accepting it")


async def _rotate_stored_identity(settings: Settings, announce) -> None:
    from .app import open_store
    from .federation.identity import SEED_BYTES, KeyPair

    store = open_store(settings)
    await store.open()
    try:
        old = KeyPair((await store.stored_identity_seeds(os.urandom(SEED_BYTES)))[0])
        seed = os.urandom(SEED_BYTES)
        new = KeyPair(seed)
        await store.rotate_stored_identity(seed)
    finally:
        await store.close()
    announce(f"federation identity in {settings.db_display}: new key {new.public_b64}")
    announce(
        f"retired key {old.public_b64} still verifies: delete its row from federation_identity"
        " to stop accepting it"
    )
