"""`:graph` (`x` on an intent, k9s `:xray`): an intent with its parent, dependencies and
children as a tree. Move with the arrows or j/k, `space`/`→` expands a child's own relations
(read when first expanded), `enter` opens the intent under the cursor."""

from __future__ import annotations

import msgspec
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from backend.wire.intents import Intent

from ..client.api import ServerAPI
from .base import ConsoleScreen, optional
from .format import STATUS_STYLES, short_id


class Link(msgspec.Struct):
    """A tree node's intent; `expanded_once` once its own relations were read."""

    intent_id: str
    intent: Intent | None = None
    expanded_once: bool = False


def intent_label(intent: Intent | None, intent_id: str, role: str = "") -> Text:
    text = Text(no_wrap=True)
    if role:
        text.append(f"{role} ", style="dim")
    if intent is None:
        text.append(short_id(intent_id), style="italic")
        return text
    text.append(intent.title, style="bold")
    text.append(f"  {intent.status}", style=STATUS_STYLES.get(intent.status, ""))
    text.append(f"  {short_id(intent.id)}", style="dim")
    return text


class IntentTree(Tree[Link]):
    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False, id="graph.down"),
        Binding("k", "cursor_up", "Up", show=False, id="graph.up"),
        Binding("right,l", "expand", "Expand", show=False, id="graph.expand"),
        Binding("left,h", "collapse", "Collapse", show=False, id="graph.collapse"),
    ]

    def action_expand(self) -> None:
        if (node := self.cursor_node) is not None and node.allow_expand:
            node.expand()

    def action_collapse(self) -> None:
        node = self.cursor_node
        if node is None:
            return
        if node.is_expanded and node.allow_expand:
            node.collapse()
        elif node.parent is not None:
            self.move_cursor(node.parent)


class GraphScreen(ConsoleScreen):
    BINDINGS = [
        Binding("r", "reload", "Reload", id="graph.reload"),
        Binding("y", "copy_id", "Copy id", show=False, id="graph.copy_id"),
    ]

    def __init__(self, intent_id: str) -> None:
        super().__init__()
        self.intent_id = intent_id
        self.crumb = f"Graph {short_id(intent_id)}"
        self.loaded = False

    def compose_body(self) -> ComposeResult:
        tree = IntentTree(Text(f"intent {short_id(self.intent_id)}"), id="graph")
        tree.auto_expand = False  # enter opens; space and → expand
        tree.border_title = "enter opens · → or space expands · ← collapses · d describes"
        yield tree

    @property
    def intent_tree(self) -> IntentTree:
        return self.query_one(IntentTree)

    def on_mount(self) -> None:
        self.intent_tree.focus()
        self.reload()

    def reload(self) -> None:
        self.load()

    @work(exclusive=True, group="graph-load", exit_on_error=False)
    async def load(self) -> None:
        client = await self.connected()
        tree = self.intent_tree
        tree.clear()
        root = tree.root
        root.data = Link(self.intent_id, expanded_once=True)
        intent, problem = await optional(client.get_intent(self.intent_id))
        if intent is None:
            root.set_label(Text(f"Cannot load intent {self.intent_id}: {problem}", style="red"))
            self.loaded = True
            return
        root.data.intent = intent
        root.set_label(intent_label(intent, intent.id))
        self.set_crumb(f"Graph: {intent.title[:30]}")
        if intent.parent_intent_id:
            parent, _ = await optional(client.get_intent(intent.parent_intent_id))
            self._add_intent(root, parent, intent.parent_intent_id, "▲ parent")
        await self._fill(client, root, intent, keep_empty=True)
        root.expand()
        for group in root.children:
            if group.data is None:
                group.expand()
        self.loaded = True

    async def _fill(
        self, client: ServerAPI, node: TreeNode[Link], intent: Intent, keep_empty: bool = False
    ) -> None:
        """Add `intent`'s dependencies and children under `node`; empty groups only on the
        root (`keep_empty`), and a node with neither cannot be expanded any more."""
        dependencies, problem = await optional(client.dependencies(intent.id))
        if dependencies is None and intent.depends_on:  # unreadable: the ids it names
            dependencies = []
            for dep_id in intent.depends_on:
                one, _ = await optional(client.get_intent(dep_id))
                if one is not None:
                    dependencies.append(one)
        children, children_problem = await optional(client.children(intent.id))
        added = False
        for name, found, why in (
            ("depends on", dependencies, problem),
            ("children", children, children_problem),
        ):
            if not (found or why or keep_empty):
                continue
            added = True
            group = node.add(Text(f"{name} ({len(found or [])})", style="dim"))
            group.allow_expand = bool(found or why)
            for related in found or []:
                self._add_intent(group, related, related.id, "")
            if why:
                group.add_leaf(Text(why, style="italic yellow"))
            if node is not self.intent_tree.root:
                group.expand()
        if not added:
            node.allow_expand = False

    def _add_intent(
        self, parent: TreeNode[Link], intent: Intent | None, intent_id: str, role: str
    ) -> None:
        node = parent.add(intent_label(intent, intent_id, role), data=Link(intent_id, intent))
        # Its own relations are read when it is first expanded.
        node.allow_expand = intent is not None

    @on(Tree.NodeExpanded)
    def _expand(self, event: Tree.NodeExpanded[Link]) -> None:
        link = event.node.data
        if link is not None and link.intent is not None and not link.expanded_once:
            link.expanded_once = True
            self.expand_node(event.node, link.intent)

    @work(group="graph-expand", exit_on_error=False)
    async def expand_node(self, node: TreeNode[Link], intent: Intent) -> None:
        await self._fill(self.client, node, intent)
        node.expand()

    def _current(self) -> Link | None:
        node = self.intent_tree.cursor_node
        return node.data if node is not None else None

    @on(Tree.NodeSelected)
    def _open(self, event: Tree.NodeSelected[Link]) -> None:
        """Enter: open the intent; on a group ("children (3)"), fold or unfold it."""
        link = event.node.data
        if link is None:
            if event.node.allow_expand:
                event.node.toggle()
            return
        self.console.open_intent(link.intent_id)

    def action_copy_id(self) -> None:
        link = self._current()
        self.copy_id(link.intent_id if link else None)

    def describe_target(self) -> tuple[str, object, str | None] | None:
        link = self._current()
        if link is None or link.intent is None:
            return None
        return ("intent", link.intent, link.intent_id)
