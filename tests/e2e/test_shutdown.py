"""Clean shutdown: SIGTERM or SIGINT while writes are in flight finishes them, closes the
database and exits 0; everything acknowledged is there after a restart."""

from __future__ import annotations

import asyncio
import signal
import time

import pytest

from .test_crash import Ledger, server_process, verify, write_load


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_under_load_shuts_down_cleanly(tmp_path, sig):
    db = tmp_path / "shutdown.db"
    ledger = Ledger()
    with server_process(db) as first:
        asyncio.run(write_load(first.url, ledger, 200, lambda: first.proc.send_signal(sig)))
        assert first.proc.wait(30) == 0  # one signal only: no resend
        output = first.output()
    assert "Traceback" not in output, output
    assert ledger.count >= 200
    # A clean close checkpoints the WAL into the main file.
    wal = db.with_name(db.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0
    with server_process(db) as second:
        verify(second.url, ledger)
        assert second.stop() == 0


@pytest.mark.slow
def test_second_sigint_forces_a_prompt_exit_without_losing_writes(tmp_path):
    db = tmp_path / "forced.db"
    ledger = Ledger()

    def interrupt_twice() -> None:
        first.proc.send_signal(signal.SIGINT)
        time.sleep(0.05)  # two pending SIGINTs would merge into one
        first.proc.send_signal(signal.SIGINT)

    with server_process(db) as first:
        asyncio.run(write_load(first.url, ledger, 200, interrupt_twice))
        # 1 when the second signal forced the exit, 0 if shutdown had already finished;
        # either way it exits (database threads once kept a forced exit alive forever).
        assert first.proc.wait(30) in (0, 1)
    with server_process(db) as second:
        verify(second.url, ledger)
        assert second.stop() == 0
