"""`D` on an intent (list or detail): send it to a federation peer. Pick the peer, then the
agent, permissions and budget, confirm; the dispatch then shows live (its `federation.*`
events). Hidden in read-only mode and on a server without federation."""

from __future__ import annotations

from typing import ClassVar

from textual import work

from backend.wire.federation import PeerView
from backend.wire.intents import Intent

from ..modals.dispatch import DispatchForm, DispatchModal
from ..modals.pick import Choice, PickModal
from .base import ConsoleScreen
from .lifecycle import quoted
from .peers import NOT_FEDERATED, reach


def peer_note(peer: PeerView) -> str:
    parts = [{"up": "reachable", "down": "unreachable", "?": "not tried yet"}[reach(peer)]]
    if peer.reachable and peer.rtt_ms is not None:
        parts[0] += f" {peer.rtt_ms:g} ms"
    if peer.public_agents:
        parts.append(f"agents: {', '.join(peer.public_agents)}")
    if peer.key_mismatch:
        parts.append("KEY MISMATCH")
    return " · ".join(parts)


class SendsToPeers(ConsoleScreen):
    """A screen showing intents that `D` may send to a peer."""

    CAPABILITY_ACTIONS: ClassVar[dict[str, str]] = {"dispatch": "federation"}

    def send_to_peer(self, intent: Intent | None) -> None:
        if intent is None:
            self.notify("No intent selected", severity="warning")
        elif self.console.read_only:
            self.notify("Read-only mode: nothing was changed", severity="warning")
        elif not self.client.capabilities.federation:
            self.notify(NOT_FEDERATED, severity="warning")
        else:
            self._pick_peer(intent)

    @work(group="send-to-peer", exit_on_error=False)
    async def _pick_peer(self, intent: Intent) -> None:
        try:
            peers = [p for p in await self.client.federation_peers() if p.url]
        except Exception as exc:
            self.notify_error(exc, "Read the peers")
            return
        if not peers:
            self.notify("No peers configured: nowhere to send it", severity="warning")
            return
        by_url = {peer.url: peer for peer in peers if peer.url}
        picker = PickModal(
            f"Send {quoted(intent.title)} to which peer?",
            [Choice(url, note=peer_note(peer)) for url, peer in by_url.items()],
            hint="The peer creates its own intent and reports back through callbacks.",
        )

        def picked(url: str | None) -> None:
            if url is not None:
                modal = DispatchModal(quoted(intent.title), url, by_url[url].public_agents)
                self.app.push_screen(modal, lambda form: self._review(intent, form))

        self.app.push_screen(picker, picked)

    def _review(self, intent: Intent, form: DispatchForm | None) -> None:
        if form is None:
            return
        budget = f"{form.cost_ceiling_usd:g} USD" if form.cost_ceiling_usd else "none"
        self.confirm_then(
            f"Send {quoted(intent.title)} to {form.target_server}?\n"
            f"agent: {form.agent_id or 'none'} · permissions: "
            f"{', '.join(form.permissions) or 'none'} · budget: {budget}",
            "Send",
            lambda: self._send(intent, form),
        )

    @work(group="send-to-peer", exit_on_error=False)
    async def _send(self, intent: Intent, form: DispatchForm) -> None:
        await self.mutate(
            f"Send {quoted(intent.title)} to {form.target_server}",
            lambda: self.client.dispatch_intent(
                intent.id,
                form.target_server,
                agent_id=form.agent_id,
                permissions=form.permissions,
                cost_ceiling_usd=form.cost_ceiling_usd,
            ),
            done=f"Sent {quoted(intent.title)} to {form.target_server} (see :dispatches)",
        )
