"""The worker of ``recovery serve``: ``recovery worker`` run as a child process of the server.

In the server's own process the worker's jobs would share the interpreter lock with the event
loop that answers Stripe, and a burst of webhooks would slow both. As a child it runs beside the
server at a lower CPU priority: under load the receiver wins, and the worker catches up after.
It stops with the server (SIGTERM as soon as the server is told to stop, killed if it has not
exited by the deadline) and is started again if it dies meanwhile. Whatever a child that is gone
still holds (inbox rows, actions: it was killed, or died mid-batch) is handed back by the server,
which knows the child's worker id; and a child whose server is gone stops by itself.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

from recovery.wiring import worker_id_for

log = logging.getLogger("recovery.worker")

# The child's niceness, the lowest priority there is: under load the request path gets the CPU
# first (at 10 the worker still took a third of a core from a busy receiver on two cores).
WORKER_NICENESS = 19
# From the stop request to the kill: the child needs less (its own deadline is 6 s), and after
# the kill the server still hands back the child's claims, all within 10 s of SIGTERM.
STOP_SECONDS = 7.5
RESTART_AFTER_SECONDS = 5.0

ReleaseClaims = Callable[[str], int]


class WorkerProcess:
    """``start_thread()`` starts the child and a thread that watches it; ``request_stop()``
    signals it; ``stop()`` signals it and waits (``create_app``'s background protocol).
    ``release_claims(worker_id)`` hands back what a child that has exited still holds."""

    def __init__(self, command: list[str] | None = None, *,
                 niceness: int = WORKER_NICENESS, stop_seconds: float = STOP_SECONDS,
                 release_claims: ReleaseClaims | None = None) -> None:
        self.command = command or [sys.executable, "-m", "recovery", "worker",
                                   "--parent-pid", str(os.getpid())]
        self.niceness, self.stop_seconds = niceness, stop_seconds
        self.release_claims = release_claims
        self._process: subprocess.Popen | None = None
        self._stopping = threading.Event()
        self._deadline: float | None = None
        self._lock = threading.Lock()
        self._watcher: threading.Thread | None = None
        self._stopper: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start_thread(self) -> None:
        self._spawn()
        self._watcher = threading.Thread(target=self._watch, name="worker-watch", daemon=True)
        self._watcher.start()

    def request_stop(self) -> None:
        """Tell the child to stop, without waiting (the server drains its connections
        meanwhile). A thread kills it at the deadline and hands back its claims, whether or
        not the server's own shutdown has got that far."""
        with self._lock:
            if self._stopping.is_set():
                return
            self._stopping.set()
            self._deadline = time.monotonic() + self.stop_seconds
            process = self._process
            self._stopper = threading.Thread(target=self._finish, args=(process,),
                                             name="worker-stop", daemon=True)
        if process is not None and process.poll() is None:
            # A child starved of CPU at the lowest priority would spend its whole deadline
            # getting to its stop: it stops at the server's priority (where allowed).
            self._set_priority(process, 0)
            process.send_signal(signal.SIGTERM)
        self._stopper.start()

    def stop(self) -> None:
        self.request_stop()
        stopper = self._stopper
        if stopper is not None:
            # The deadline, then the kill and the hand-back (a few statements).
            stopper.join(max(0.0, self._deadline - time.monotonic()) + 5.0)

    def _finish(self, process: subprocess.Popen | None) -> None:
        """Wait for the child until the deadline, kill it if it is still there, then hand back
        what it holds: it released its claims itself unless it was killed or starved, and
        nothing it did can outlive it."""
        if process is None:
            return
        try:
            process.wait(max(0.0, self._deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.error("the worker process did not stop in time; killing it",
                      extra={"pid": process.pid})
            process.kill()
            process.wait()
        self._release(process.pid)

    def _release(self, pid: int) -> None:
        if self.release_claims is None:
            return
        try:
            released = self.release_claims(worker_id_for(pid))
        except Exception:  # noqa: BLE001 - the leases hand them back later
            log.exception("could not hand back the worker process's claims; their leases will",
                          extra={"pid": pid})
            return
        if released:
            log.warning("handed back the claims of the worker process that is gone",
                        extra={"pid": pid, "claims_released": released})

    def _spawn(self) -> None:
        with self._lock:
            if self._stopping.is_set():
                return
            self._process = subprocess.Popen(self.command, stdin=subprocess.DEVNULL)
        self._set_priority(self._process, self.niceness)
        log.info("worker process started", extra={"pid": self._process.pid})

    @staticmethod
    def _set_priority(process: subprocess.Popen, niceness: int) -> None:
        try:
            os.setpriority(os.PRIO_PROCESS, process.pid, niceness)
        except OSError:
            # Raising a priority needs privileges the server may not have: the child then
            # stops at its own pace, and is killed at the deadline.
            log.info("could not set the worker's CPU priority",
                     extra={"pid": process.pid, "niceness": niceness})

    def _watch(self) -> None:
        while not self._stopping.is_set():
            process = self._process
            code = process.wait()
            if self._stopping.is_set():
                return  # the stop thread hands back what it held
            log.error("ALERT: the worker process exited; starting it again",
                      extra={"pid": process.pid, "exit_code": code})
            self._release(process.pid)
            if self._stopping.wait(RESTART_AFTER_SECONDS):
                return
            self._spawn()
