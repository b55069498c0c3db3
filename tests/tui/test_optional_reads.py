"""A screen's load gathers its reads; a newer load (the next live event) cancels it, maybe
before those reads start. `optional_read` makes each client call only once its read runs,
so a cancelled load leaves no call never awaited (CI saw six such warnings per run)."""

from __future__ import annotations

import asyncio
import gc
import warnings

import pytest

from openintent_tui.screens.base import optional, optional_read


async def cancelled_before_start(*reads) -> list[str]:
    """Warnings seen when a gather of `reads` is cancelled before any of them runs."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load = asyncio.gather(*reads)
        load.cancel()
        with pytest.raises(asyncio.CancelledError):
            await load
        del load, reads
        for _ in range(3):  # the loop drops the cancelled tasks' handles on its next turns
            await asyncio.sleep(0)
        gc.collect()
    return [str(w.message) for w in caught]


async def test_reads_cancelled_before_they_start_make_no_call():
    calls: list[str] = []

    async def read(name: str) -> str:
        calls.append(name)
        return name

    seen = await cancelled_before_start(
        optional_read(lambda: read("a")), optional_read(lambda: read("b"))
    )
    assert seen == []
    assert calls == []
    assert await optional_read(lambda: read("c")) == ("c", None)


async def test_calls_made_up_front_are_left_never_awaited():
    """Why: the same cancellation with the calls made before the gather warns."""

    async def read() -> int:
        return 1

    seen = await cancelled_before_start(optional(read()), optional(read()))
    assert len([m for m in seen if "never awaited" in m]) == 2
