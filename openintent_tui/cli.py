"""`openintent-tui`: the console. With no server given it starts the bundled server as a child
process (or reuses one already running); `openintent-tui serve` runs the server headless."""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import msgspec

from .contexts import (
    ConfigError,
    ConnectionInfo,
    connections,
    load_config,
    resolve,
    server_base_url,
)

API_KEY_ENV = "OPENINTENT_API_KEY"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="openintent-tui",
        description="Keyboard-driven operations console for OpenIntent servers. "
        "`openintent-tui serve --help` runs the server headless; "
        "`openintent-tui workflow run FILE` runs a workflow on a server.",
    )
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--server", metavar="URL", help="connect to this server")
    target.add_argument("--context", metavar="NAME", help="a context from the config file")
    target.add_argument(
        "--local",
        action="store_true",
        help="the bundled server, even when the config file names a default_context",
    )
    target.add_argument(
        "--demo",
        action="store_true",
        help="throwaway server with a seeded workspace and simulated agents",
    )
    parser.add_argument(
        "--api-key", metavar="KEY", help=f"API key for --server (default: ${API_KEY_ENV})"
    )
    parser.add_argument("--operator", metavar="NAME", help="who you act as (X-Agent-ID)")
    parser.add_argument("--read-only", action="store_true", help="disable every change")
    parser.add_argument("--config", type=Path, metavar="PATH", help="config file to use")
    parser.add_argument(
        "--db",
        type=_database,
        metavar="PATH",
        help="database of the bundled server (a SQLite file, or sqlite:///path)",
    )
    return parser


def _database(value: str) -> Path:
    from backend.settings import database_path

    try:
        return database_path(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:
        from backend.cli import main as serve_main

        serve_main(argv[1:])
        return
    if argv[:1] == ["workflow"]:
        from backend.workflows.cli import main as workflow_main

        workflow_main(argv[1:])
        return
    from .oap_cli import COMMANDS as OAP_COMMANDS

    if argv[:1] and argv[0] in OAP_COMMANDS:
        from .oap_cli import main as oap_main

        sys.exit(oap_main(argv))
    args = build_parser().parse_args(argv)
    try:
        sys.exit(run(args))
    except ConfigError as exc:
        sys.exit(f"openintent-tui: {exc}")


def run(args: argparse.Namespace) -> int:
    from .embedded import EmbeddedError

    config = load_config(args.config)
    contexts = connections(config)
    try:
        with _connection(args, config) as connection:
            if args.operator:
                connection = msgspec.structs.replace(connection, operator=args.operator)
            contexts[connection.name] = connection
            _run_console(connection, args.read_only, config.keys, contexts)
    except EmbeddedError as exc:
        print(f"openintent-tui: {exc}", file=sys.stderr)
        return 1
    return 0


@contextmanager
def _connection(args: argparse.Namespace, config) -> Iterator[ConnectionInfo]:
    """The connection to open, with whatever must run beside it (server, demo agents)."""
    if args.server:
        if not args.server.strip().startswith(("http://", "https://")):
            raise ConfigError(
                f"--server {args.server}: give the server's URL, e.g. http://127.0.0.1:8000"
            )
        yield ConnectionInfo(
            name="cli",
            url=server_base_url(args.server),
            api_key=args.api_key or os.environ.get(API_KEY_ENV),
            operator=args.operator or "operator",
            read_only=args.read_only,
        )
    elif args.context or (config.default_context and not (args.demo or args.local or args.db)):
        yield resolve(config, args.context or config.default_context)
    elif args.demo:
        with _demo() as connection:
            yield connection
    else:
        with _embedded(args.db) as connection:
            yield connection


@contextmanager
def _embedded(db: Path | None) -> Iterator[ConnectionInfo]:
    from .embedded import EmbeddedServer

    print("openintent-tui: starting the bundled server…", file=sys.stderr, flush=True)
    with EmbeddedServer(db) as server:
        if server.reused:
            print(f"openintent-tui: reusing the server at {server.url}", file=sys.stderr)
        server.watch()  # a crashed server is restarted; the console reconnects by itself
        yield ConnectionInfo(
            name="local", url=server.url, api_key=server.api_key, color="green", embedded=True
        )


@contextmanager
def _demo() -> Iterator[ConnectionInfo]:
    """A server on a throwaway database, seeded, with agents acting in a background thread
    (the console owns the main event loop), and a second server federated with it (the
    peer, `demo_peer.py`)."""
    from .demo_peer import MAIN_AGENTS, PEER_AGENTS, federation_yaml
    from .embedded import EmbeddedServer, free_loopback_port

    with tempfile.TemporaryDirectory(prefix="openintent-demo-") as tmp:
        workdir = Path(tmp)
        print("openintent-tui: starting the demo servers…", file=sys.stderr, flush=True)
        main_port, peer_port = free_loopback_port(), free_loopback_port()
        main_key, peer_key = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        servers = []
        for name, port, other_port, offered in (
            ("demo", main_port, peer_port, MAIN_AGENTS),
            ("peer", peer_port, main_port, PEER_AGENTS),
        ):
            config = workdir / f"{name}-federation.yaml"
            config.write_text(
                federation_yaml(
                    f"http://127.0.0.1:{other_port}", "OPENINTENT_DEMO_PEER_KEY", offered
                )
            )
            (workdir / name).mkdir()
            servers.append(
                EmbeddedServer(
                    workdir / name / f"{name}.db",
                    reuse=False,
                    workdir=workdir / name,
                    api_key=main_key if name == "demo" else peer_key,
                    port=port,
                    env={
                        "OPENINTENT_FEDERATION_ENABLED": "true",
                        "OPENINTENT_FEDERATION_CONFIG": str(config),
                        "OPENINTENT_EGRESS_ALLOW_CIDRS": "127.0.0.0/8",
                        "OPENINTENT_DEMO_PEER_KEY": peer_key if name == "demo" else main_key,
                    },
                )
            )
        with servers[0] as server, servers[1] as peer:
            connection = ConnectionInfo(
                name="demo",
                url=server.url,
                api_key=server.api_key,
                color="magenta",
                embedded=True,
            )
            peer_connection = ConnectionInfo(
                name="demo-peer", url=peer.url, api_key=peer.api_key, color="cyan", embedded=True
            )
            agents = DemoAgents(connection, peer_connection)
            agents.seed()
            agents.start()
            try:
                yield connection
            finally:
                agents.stop()


class DemoAgents:
    """Seeding and the simulated agents, on their own event loop in a daemon thread."""

    def __init__(self, connection: ConnectionInfo, peer: ConnectionInfo | None = None) -> None:
        self.connection = connection
        self.peer = peer
        """The federated peer server, when there is one."""
        self.loop = asyncio.new_event_loop()
        self.stop_event = asyncio.Event()  # binds to a loop only when first awaited
        self.thread = threading.Thread(target=self._run, name="demo-agents", daemon=True)

    def _client(self, connection: ConnectionInfo | None = None):
        from .client import OpenIntentClient

        connection = connection or self.connection
        return OpenIntentClient(connection.url, connection.api_key)

    def seed(self) -> None:
        from .demo import seed
        from .demo_peer import seed_federation

        async def go() -> None:
            async with self._client() as client:
                workspace = await seed(client)
                if self.peer is not None:
                    async with self._client(self.peer) as peer:
                        await seed_federation(client, peer, workspace)

        self.loop.run_until_complete(go())

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        from .demo import run_agents
        from .demo_peer import run_peer

        async def go() -> None:
            async with self._client() as client:
                if self.peer is None:
                    await run_agents(client, self.stop_event)
                    return
                async with self._client(self.peer) as peer:
                    await asyncio.gather(
                        run_agents(client, self.stop_event), run_peer(client, peer, self.stop_event)
                    )

        self.loop.run_until_complete(go())

    def stop(self, timeout: float = 10.0) -> None:
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.stop_event.set)
            self.thread.join(timeout)
        if not self.thread.is_alive():
            self.loop.close()


def _run_console(
    connection: ConnectionInfo,
    read_only: bool,
    keymap: dict[str, str],
    contexts: dict[str, ConnectionInfo],
) -> None:
    from .app import OpenIntentApp

    OpenIntentApp(connection, read_only=read_only, keymap=keymap or None, contexts=contexts).run()
