"""`openintent-tui workflow run FILE`: send a workflow YAML to a server and show its phases."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import httpx
import yaml

API_KEY_ENV = "OPENINTENT_API_KEY"
DEFAULT_SERVER = "http://127.0.0.1:8000"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="openintent-tui workflow",
        description="Run a workflow file (the SDK's workflow YAML; phases may name a peer in"
        " `dispatch_to`) on a server: one intent per phase, started as dependencies complete.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="create the workflow's intents on the server")
    run.add_argument("file", type=Path, help="workflow YAML")
    run.add_argument("--server", default=DEFAULT_SERVER, metavar="URL")
    run.add_argument("--api-key", metavar="KEY", help=f"default: ${API_KEY_ENV}")
    run.add_argument("--operator", default="operator", metavar="NAME", help="X-Agent-ID")
    return parser


def main(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    try:
        document = yaml.safe_load(args.file.read_text())
    except (OSError, yaml.YAMLError) as exc:
        sys.exit(f"openintent-tui workflow: cannot read {args.file}: {exc}")
    headers = {"X-Agent-ID": args.operator}
    key = args.api_key or os.environ.get(API_KEY_ENV)
    if key:
        headers["X-API-Key"] = key
    url = args.server.rstrip("/") + "/api/v1/workflows"
    try:
        answer = httpx.post(url, json=document, headers=headers, timeout=30)
    except httpx.HTTPError as exc:
        sys.exit(f"openintent-tui workflow: {url}: {type(exc).__name__}: {exc}")
    try:
        body = answer.json()
    except ValueError:
        body = {}
    if answer.status_code != 201:
        reason = body.get("detail") if isinstance(body, dict) else None
        sys.exit(f"openintent-tui workflow: HTTP {answer.status_code}: {reason or answer.text}")
    print(f"workflow {body['workflow_id']}  {body['name']}")
    for phase in body["phases"]:
        where = f" -> {phase['dispatch_to']}" if phase.get("dispatch_to") else ""
        after = f"  after {', '.join(phase['depends_on'])}" if phase["depends_on"] else ""
        print(f"  {phase['name']:<20} {phase['status']:<8} {phase['intent_id']}{where}{after}")
