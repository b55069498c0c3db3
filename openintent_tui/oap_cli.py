"""`openintent-tui agents|route|chain|runs|resume|cancel`: OAP agent routing from the command
line, talking to a server as the console does (`--server`/`--api-key`, `--context`, or the
local server started by `openintent-tui serve` or the console). Tables for people, `--json`
for scripts; errors are one line on stderr and exit status 1, never a traceback."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import httpx
import msgspec

from backend.wire.headers import AGENT_ID, API_KEY
from backend.wire.oap import (
    CHAIN_STATUSES,
    OapAgent,
    OapAgentList,
    OapChain,
    OapChainList,
    OapPing,
    OapPingList,
    OapRoute,
)

COMMANDS = frozenset({"agents", "route", "chain", "runs", "resume", "cancel"})
API_KEY_ENV = "OPENINTENT_API_KEY"
T = TypeVar("T")


class CliError(Exception):
    pass


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    target = common.add_mutually_exclusive_group()
    target.add_argument("--server", metavar="URL", help="server to talk to")
    target.add_argument("--context", metavar="NAME", help="a context from the config file")
    common.add_argument("--api-key", metavar="KEY", help=f"API key (default: ${API_KEY_ENV})")
    common.add_argument("--db", type=Path, metavar="PATH", help="the local server's database")
    common.add_argument("--operator", metavar="NAME", default="operator", help="X-Agent-ID")
    common.add_argument("--json", action="store_true", help="print JSON instead of a table")

    parser = argparse.ArgumentParser(
        prog="openintent-tui", description="OAP agent routing on an OpenIntent server."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    agents = commands.add_parser("agents", parents=[common], help="the agent registry")
    verbs = agents.add_subparsers(dest="verb", required=True)
    register = verbs.add_parser("register", parents=[common], help="register an HTTP agent")
    register.add_argument("url")
    register.add_argument("-c", "--capabilities", help='fallback capabilities: "a,b"')
    register.add_argument("--id", dest="agent_id", help="fallback agent id")
    register.add_argument("-d", "--description", default="")
    register.add_argument("-t", "--timeout", type=float, default=60.0, help="seconds per call")
    register.add_argument("--replace", action="store_true", help="overwrite an existing id")
    verbs.add_parser("list", parents=[common], help="registered agents")
    ping = verbs.add_parser("ping", parents=[common], help="GET / of one agent or all")
    ping.add_argument("agent_id", nargs="?")
    remove = verbs.add_parser("remove", parents=[common], help="remove an agent")
    remove.add_argument("agent_id")

    route = commands.add_parser("route", parents=[common], help="which agent a goal goes to")
    route.add_argument("goal")

    chain = commands.add_parser("chain", parents=[common], help="start a chain on an intent")
    chain.add_argument("intent_id")
    chain.add_argument("--pipeline", help='fixed agent order: "a,b,c"')
    chain.add_argument("--first-agent", help="pin the first agent")
    chain.add_argument("--max-hops", type=int, default=10)
    chain.add_argument("--wait", action="store_true", help="wait until the chain stops")

    runs = commands.add_parser("runs", parents=[common], help="chains, newest first")
    runs.add_argument("chain_id", nargs="?", help="show one chain with its hops")
    runs.add_argument("--status", choices=CHAIN_STATUSES)
    runs.add_argument("--intent", dest="intent_id")

    resume = commands.add_parser("resume", parents=[common], help="continue a stopped chain")
    resume.add_argument("chain_id")
    resume.add_argument("--pipeline")
    resume.add_argument("--max-hops", type=int)
    resume.add_argument("--wait", action="store_true")

    cancel = commands.add_parser("cancel", parents=[common], help="cancel a chain")
    cancel.add_argument("chain_id")
    cancel.add_argument("--reason")
    return parser


def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    try:
        with _client(args) as api:
            return _run(api, args)
    except CliError as exc:
        print(f"openintent-tui: {exc}", file=sys.stderr)
        return 1


# --- connection


def _client(args: argparse.Namespace) -> httpx.Client:
    url, key = _target(args)
    headers = {AGENT_ID.name: args.operator}
    if key:
        headers[API_KEY.name] = key
    # Generous: `--wait` holds the request until the chain stops.
    return httpx.Client(
        base_url=f"{url}/api/v1", headers=headers, timeout=httpx.Timeout(5, read=3600)
    )


def _target(args: argparse.Namespace) -> tuple[str, str | None]:
    key = args.api_key or os.environ.get(API_KEY_ENV)
    if args.server:
        return args.server.rstrip("/"), key
    from .contexts import ConfigError, load_config, resolve

    try:
        config = load_config()
        name = args.context or (None if args.db else config.default_context)
        if name:
            connection = resolve(config, name)
            return connection.url, key or connection.api_key
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    return _local_server(args.db, key)


def _local_server(db: Path | None, key: str | None) -> tuple[str, str | None]:
    from backend.server_record import running_server
    from backend.settings import Settings, ensure_api_key

    settings = Settings(db=str(db) if db else "")
    record = running_server(settings.db_path.absolute(), wait_for_url=2.0)
    if record is None or not record.url:
        raise CliError(
            f"no server is running on {settings.db_path}: start one (`openintent-tui serve`)"
            " or name one with --server URL"
        )
    if key is None:
        key = ensure_api_key(settings)[0].api_keys[0]
    return record.url, key


def _call(api: httpx.Client, method: str, path: str, kind: type[T], **kwargs: Any) -> T:
    try:
        response = api.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        raise CliError(f"cannot reach {api.base_url}: {exc}") from None
    if response.status_code >= 400:
        try:
            message = response.json().get("message") or response.text
        except ValueError:
            message = response.text
        raise CliError(f"{message} (HTTP {response.status_code})")
    if kind is type(None):
        return None
    try:
        return msgspec.json.decode(response.content, type=kind)
    except msgspec.DecodeError as exc:
        raise CliError(f"unexpected answer from {api.base_url}: {exc}") from None


# --- commands


def _run(api: httpx.Client, args: argparse.Namespace) -> int:
    command = args.command
    if command == "agents":
        return _agents(api, args)
    if command == "route":
        routed = _call(api, "POST", "/oap/route", OapRoute, json={"goal": args.goal})
        _emit(args, routed, lambda: _route_table(routed))
        return 0
    if command == "chain":
        body: dict[str, Any] = {"max_hops": args.max_hops, "wait": args.wait}
        if args.pipeline:
            body["pipeline"] = _names(args.pipeline)
        if args.first_agent:
            body["first_agent"] = args.first_agent
        started = _call(api, "POST", f"/intents/{args.intent_id}/oap/chains", OapChain, json=body)
        _emit(args, started, lambda: _chain_detail(started))
        return _chain_exit(started)
    if command == "runs":
        if args.chain_id:
            found = _call(api, "GET", f"/oap/chains/{args.chain_id}", OapChain)
            _emit(args, found, lambda: _chain_detail(found))
            return 0
        params = {k: v for k, v in (("status", args.status), ("intent_id", args.intent_id)) if v}
        listed = _call(api, "GET", "/oap/chains", OapChainList, params=params)
        _emit(args, listed, lambda: _chains_table(listed.chains))
        return 0
    if command == "resume":
        body = {"wait": args.wait}
        if args.max_hops:
            body["max_hops"] = args.max_hops
        if args.pipeline:
            body["pipeline"] = _names(args.pipeline)
        resumed = _call(api, "POST", f"/oap/chains/{args.chain_id}/resume", OapChain, json=body)
        _emit(args, resumed, lambda: _chain_detail(resumed))
        return _chain_exit(resumed)
    cancelled = _call(
        api, "POST", f"/oap/chains/{args.chain_id}/cancel", OapChain, json={"reason": args.reason}
    )
    _emit(args, cancelled, lambda: _chain_detail(cancelled))
    return 0


def _agents(api: httpx.Client, args: argparse.Namespace) -> int:
    if args.verb == "register":
        body: dict[str, Any] = {
            "url": args.url,
            "description": args.description,
            "timeout_s": args.timeout,
        }
        if args.capabilities:
            body["capabilities"] = _names(args.capabilities)
        if args.agent_id:
            body["agent_id"] = args.agent_id
        params = {"replace": "true"} if args.replace else {}
        agent = _call(api, "POST", "/oap/agents", OapAgent, json=body, params=params)
        _emit(args, agent, lambda: _agents_table([agent]))
    elif args.verb == "list":
        agents = _call(api, "GET", "/oap/agents", OapAgentList)
        _emit(args, agents, lambda: _agents_table(agents.agents))
    elif args.verb == "ping":
        if args.agent_id:
            one = _call(api, "POST", f"/oap/agents/{args.agent_id}/ping", OapPing, json={})
            results = OapPingList(results=[one])
        else:
            results = _call(api, "POST", "/oap/ping", OapPingList, json={})
        _emit(args, results, lambda: _ping_table(results.results))
        # As `oap ping`: a dead agent fails the command.
        return 1 if any(r.status == "dead" for r in results.results) else 0
    else:
        _call(api, "DELETE", f"/oap/agents/{args.agent_id}", type(None))
        _emit(args, {"removed": args.agent_id}, lambda: f"removed {args.agent_id}")
    return 0


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _chain_exit(chain: OapChain) -> int:
    """0 when the chain completed or is still going; 1 when it stopped short (failed, at the
    hop limit: unlike `oap chain`, a hop limit is never reported as done)."""
    return 0 if chain.status in ("completed", "running", "queued") else 1


# --- output


def _emit(args: argparse.Namespace, value: Any, table: Any) -> None:
    if args.json:
        print(msgspec.json.format(msgspec.json.encode(value)).decode())
    else:
        print(table())


def _table(headers: list[str], rows: list[list[str]]) -> str:
    if not rows:
        return "(none)"
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


def _agents_table(agents: list[OapAgent]) -> str:
    return _table(
        ["AGENT", "URL", "CAPABILITIES", "STATUS", "PING MS"],
        [
            [
                a.agent_id,
                a.url,
                ", ".join(a.capabilities),
                a.last_status or "-",
                "-" if a.last_ping_ms is None else f"{a.last_ping_ms:.1f}",
            ]
            for a in agents
        ],
    )


def _ping_table(results: list[OapPing]) -> str:
    return _table(
        ["AGENT", "STATUS", "MS", "CAPABILITIES UPDATED", "ERROR"],
        [
            [
                r.agent_id,
                r.status,
                "-" if r.ms is None else f"{r.ms:.1f}",
                "yes" if r.capabilities_updated else "no",
                r.error or "",
            ]
            for r in results
        ],
    )


def _route_table(routed: OapRoute) -> str:
    scores = ", ".join(f"{a}={s}" for a, s in sorted(routed.scores.items(), key=lambda i: -i[1]))
    return f"{routed.agent_id} (by {routed.selected_by}; scores: {scores})"


def _chains_table(chains: list[OapChain]) -> str:
    return _table(
        ["CHAIN", "INTENT", "STATUS", "HOPS", "NEXT", "ERROR"],
        [
            [
                c.chain_id,
                c.intent_id,
                c.status,
                f"{c.hops_done}/{c.stop_at_hop}",
                c.next_agent or "-",
                c.error_kind or "",
            ]
            for c in chains
        ],
    )


def _chain_detail(chain: OapChain) -> str:
    lines = [
        f"chain {chain.chain_id} on intent {chain.intent_id}: {chain.status}",
        f"hops {chain.hops_done} (this run stops after hop {chain.stop_at_hop});"
        f" next: {chain.next_agent or '-'}",
    ]
    if chain.error:
        lines.append(f"error ({chain.error_kind}): {chain.error}")
    if chain.hops:
        lines.append(
            _table(
                ["HOP", "AGENT", "BY", "STATUS", "ATTEMPTS", "MS"],
                [
                    [
                        str(h.hop),
                        h.agent_id,
                        h.selected_by,
                        h.status,
                        str(h.attempts),
                        "-" if h.duration_ms is None else f"{h.duration_ms:.1f}",
                    ]
                    for h in chain.hops
                ],
            )
        )
    if chain.hops is not None and chain.status == "completed":
        lines.append(
            f"Done — {chain.hops_done} hop(s): " + " → ".join(h.agent_id for h in chain.hops)
        )
    return "\n".join(lines)
