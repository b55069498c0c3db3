"""Waiting on an asyncio.Event with a time limit, without losing a cancellation.

Not `asyncio.wait_for(event.wait(), t)`: on Python 3.11 it returns normally when the event is
set in the same loop turn as the task is cancelled, so the cancellation is lost. A background
loop (the webhook worker, woken by every finished attempt) then went on running after its
lifespan cancelled it: shutdown hung until the server was killed, and the worker kept
sending meanwhile. `asyncio.timeout` counts cancellations and never swallows one.
"""

from __future__ import annotations

import asyncio


async def wait_event(event: asyncio.Event, seconds: float) -> bool:
    """Wait until `event` is set or `seconds` pass; True when it was set."""
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return False
    return True
