"""The `text/event-stream` wire format: frames and an incremental parser."""

from __future__ import annotations

import msgspec


class SSEFrame(msgspec.Struct):
    event: str = "message"
    data: str = ""
    id: str | None = None


class SSEParser:
    """Incremental `text/event-stream` parser (comments are keep-alives and are dropped)."""

    def __init__(self) -> None:
        self._event: str | None = None
        self._data: list[str] = []
        self._id: str | None = None

    def feed(self, line: str) -> SSEFrame | None:
        """Feed one line (without its newline); returns a frame when a blank line ends one."""
        if line == "":
            if not self._data and self._event is None:
                self._id = None
                return None
            frame = SSEFrame(
                event=self._event or "message", data="\n".join(self._data), id=self._id
            )
            self._event, self._data, self._id = None, [], None
            return frame
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._id = value
        return None
