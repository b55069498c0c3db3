"""A collapsible JSON tree (intent state), built from plain dicts and lists."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

MAX_CHILDREN = 500


def _scalar(value: Any) -> Text:
    if isinstance(value, str):
        return Text(repr(value)[1:-1].join('""'), style="green")
    if isinstance(value, bool) or value is None:
        return Text(str(value).lower() if value is not None else "null", style="italic magenta")
    return Text(str(value), style="cyan")


class JsonTree(Tree[Any]):
    DEFAULT_CSS = """
    JsonTree {
        height: auto;
        max-height: 20;
        background: $surface;
    }
    """

    def __init__(self, label: str = "state", **kwargs: Any) -> None:
        super().__init__(label, **kwargs)
        self.show_root = True
        self.guide_depth = 3

    def show(self, data: Any, expand_depth: int = 2) -> None:
        self.clear()
        self._fill(self.root, data, expand_depth)
        self.root.expand()

    def _fill(self, node: TreeNode[Any], data: Any, depth: int) -> None:
        items: list[tuple[str, Any]]
        if isinstance(data, dict):
            items = [(str(k), v) for k, v in data.items()]
        elif isinstance(data, list):
            items = [(f"[{i}]", v) for i, v in enumerate(data)]
        else:
            node.add_leaf(_scalar(data))
            return
        for key, value in items[:MAX_CHILDREN]:
            if isinstance(value, dict | list):
                kind = "{…}" if isinstance(value, dict) else f"[{len(value)}]"
                child = node.add(Text.assemble((key, "bold"), " ", (kind, "dim")), data=value)
                self._fill(child, value, depth - 1)
                if depth > 0:
                    child.expand()
            else:
                node.add_leaf(Text.assemble((key, "bold"), ": ", _scalar(value)), data=value)
        if len(items) > MAX_CHILDREN:
            node.add_leaf(Text(f"… {len(items) - MAX_CHILDREN} more", style="dim"))
