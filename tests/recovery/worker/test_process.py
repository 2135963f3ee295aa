"""``serve``'s worker child (``WorkerProcess``), run with stand-in children: what a child that is
gone still holds is handed back under the child's worker id, whether it was killed at the stop
deadline or died on its own; and a child told to stop gets the server's CPU priority."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from recovery.wiring import worker_id_for
from recovery.worker.process import WorkerProcess


def ignores_sigterm(ready: Path) -> list[str]:
    """A child busy past any deadline: it ignores SIGTERM (a starved or stuck worker)."""
    code = ("import signal, pathlib, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            f"pathlib.Path({str(ready)!r}).touch(); time.sleep(60)")
    return [sys.executable, "-c", code]


def wait_until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_child_still_there_at_the_deadline_is_killed_and_its_claims_handed_back(tmp_path):
    released = []
    worker = WorkerProcess(ignores_sigterm(tmp_path / "ready"), niceness=19, stop_seconds=0.5,
                           release_claims=lambda worker_id: released.append(worker_id) or 21)
    worker.start_thread()
    wait_until((tmp_path / "ready").exists)
    pid = worker.pid
    assert os.getpriority(os.PRIO_PROCESS, pid) == 19
    started = time.monotonic()
    worker.stop()
    assert 0.4 < time.monotonic() - started < 5
    assert worker._process.returncode == -signal.SIGKILL
    assert released == [worker_id_for(pid)]


@pytest.mark.skipif(os.geteuid() != 0, reason="raising a priority needs privileges")
def test_a_child_told_to_stop_runs_at_the_servers_priority(tmp_path):
    worker = WorkerProcess(ignores_sigterm(tmp_path / "ready"), niceness=19, stop_seconds=5,
                           release_claims=lambda _worker_id: 0)
    worker.start_thread()
    wait_until((tmp_path / "ready").exists)
    try:
        worker.request_stop()
        assert os.getpriority(os.PRIO_PROCESS, worker.pid) == 0
    finally:
        worker._process.kill()
        worker.stop()


def test_a_child_that_dies_has_its_claims_handed_back_before_it_is_started_again():
    released = []
    worker = WorkerProcess([sys.executable, "-c", "raise SystemExit(3)"], niceness=0,
                           release_claims=lambda worker_id: released.append(worker_id) or 1)
    worker.start_thread()
    first = worker.pid
    try:
        wait_until(lambda: released)
        assert released == [worker_id_for(first)]
        assert worker.pid == first  # the restart waits a while, and the stop comes first
    finally:
        worker.stop()
