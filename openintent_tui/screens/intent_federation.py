"""The intent detail's federation section: where the intent was sent or came from, each
dispatch's status, and the callbacks that arrived. Built from the intent's own `federation.*`
events (the backfilled log, then the live stream), so it moves as they arrive; the dispatch
records are re-read when one of those events comes in."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.text import Text

from backend.wire.events import Event
from backend.wire.federation import DispatchView

from .dispatches import tail_id

CALLBACKS_SHOWN = 8
STATUS_STYLES = {
    "pending": "bold magenta",
    "accepted": "bold green",
    "completed": "blue",
    "rejected": "bold red",
    "failed": "bold red",
}


class IntentFederation:
    """What the events of one intent say about its federation."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.sent: dict[str, dict[str, Any]] = {}
        """dispatch id -> the `federation.dispatched` payload."""
        self.received: dict[str, Any] | None = None
        self.callbacks: list[tuple[str, dict[str, Any]]] = []
        """(timestamp, payload) of each `federation.callback`, oldest first."""
        self.records: dict[str, DispatchView] = {}

    def add(self, events: Iterable[Event]) -> bool:
        """Take the federation events among `events`; True when one was new."""
        changed = False
        for event in events:
            if not event.event_type.startswith("federation.") or event.id in self.seen:
                continue
            self.seen.add(event.id)
            changed = True
            payload = event.payload if isinstance(event.payload, dict) else {}
            if event.event_type == "federation.dispatched" and payload.get("dispatch_id"):
                self.sent[str(payload["dispatch_id"])] = payload
            elif event.event_type == "federation.received":
                self.received = payload
            elif event.event_type == "federation.callback":
                self.callbacks.append((event.created_at, payload))
        return changed

    @property
    def dispatch_ids(self) -> list[str]:
        ids = list(self.sent)
        if self.received and self.received.get("dispatch_id"):
            ids.append(str(self.received["dispatch_id"]))
        return ids

    def render(self) -> Text:
        text = Text()
        if not self.sent and self.received is None:
            return Text("not sent to a peer, not received from one (D sends it)", style="dim")
        if self.received is not None:
            got = self.received
            text.append("came from ", style="bold")
            text.append(str(got.get("source_server") or got.get("source_did") or "?"))
            text.append(f"  (their intent {tail_id(got.get('remote_intent_id'))}", style="dim")
            agent = f", for {got['agent_id']}" if got.get("agent_id") else ""
            text.append(f"{agent}, dispatch {tail_id(got.get('dispatch_id'))})\n", style="dim")
        for dispatch_id, sent in self.sent.items():
            record = self.records.get(dispatch_id)
            status = record.status if record is not None else "…"
            text.append("sent to ", style="bold")
            text.append(str(sent.get("target_server") or "?"))
            text.append("  ")
            text.append(status, style=STATUS_STYLES.get(status, ""))
            details = [f"dispatch {tail_id(dispatch_id)}"]
            if sent.get("agent_id"):
                details.append(f"agent {sent['agent_id']}")
            if record is not None and record.remote_intent_id:
                details.append(f"their intent {tail_id(record.remote_intent_id)}")
            if record is not None and record.last_error:
                details.append(f"last error: {record.last_error}")
            text.append(f"  ({', '.join(details)})\n", style="dim")
        if self.callbacks:
            text.append(f"callbacks ({len(self.callbacks)}):\n", style="bold")
            for at, payload in self.callbacks[-CALLBACKS_SHOWN:]:
                kind = str(payload.get("event_type") or "?")
                text.append(f"  {at[11:19]} ")
                text.append(kind, style=STATUS_STYLES.get(kind, "cyan"))
                delta = payload.get("state_delta")
                if delta:
                    text.append(f"  {_brief(delta)}", style="dim")
                text.append("\n")
        text.rstrip()
        return text


def _brief(value: Any, limit: int = 60) -> str:
    shown = ", ".join(f"{k}={v}" for k, v in value.items()) if isinstance(value, dict) else value
    shown = str(shown)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"
