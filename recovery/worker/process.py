"""The worker of ``recovery serve``: ``recovery worker`` run as a child process of the server.

In the server's own process the worker's jobs would share the interpreter lock with the event
loop that answers Stripe, and a burst of webhooks would slow both. As a child it runs beside the
server at a lower CPU priority: under load the receiver wins, and the worker catches up after.
It stops with the server (SIGTERM as soon as the server is told to stop, killed if it has not
exited by the deadline) and is started again if it dies meanwhile.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time

log = logging.getLogger("recovery.worker")

# The child's niceness, the lowest priority there is: under load the request path gets the CPU
# first (at 10 the worker still took a third of a core from a busy receiver on two cores).
WORKER_NICENESS = 19
# From the stop request to the kill: the worker needs less (its own deadline is 7 s).
STOP_SECONDS = 8.5
RESTART_AFTER_SECONDS = 5.0


class WorkerProcess:
    """``start_thread()`` starts the child and a thread that watches it; ``request_stop()``
    signals it; ``stop()`` signals it and waits (``create_app``'s background protocol)."""

    def __init__(self, command: list[str] | None = None, *,
                 niceness: int = WORKER_NICENESS, stop_seconds: float = STOP_SECONDS) -> None:
        self.command = command or [sys.executable, "-m", "recovery", "worker"]
        self.niceness, self.stop_seconds = niceness, stop_seconds
        self._process: subprocess.Popen | None = None
        self._stopping = threading.Event()
        self._deadline: float | None = None
        self._lock = threading.Lock()
        self._watcher: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start_thread(self) -> None:
        self._spawn()
        self._watcher = threading.Thread(target=self._watch, name="worker-watch", daemon=True)
        self._watcher.start()

    def request_stop(self) -> None:
        """Tell the child to stop, without waiting (the server drains its connections
        meanwhile)."""
        with self._lock:
            if self._stopping.is_set():
                return
            self._stopping.set()
            self._deadline = time.monotonic() + self.stop_seconds
            process = self._process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)

    def stop(self) -> None:
        self.request_stop()
        process = self._process
        if process is None:
            return
        try:
            process.wait(max(0.0, self._deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.error("the worker process did not stop in time; killing it",
                      extra={"pid": process.pid})
            process.kill()
            process.wait()

    def _spawn(self) -> None:
        with self._lock:
            if self._stopping.is_set():
                return
            self._process = subprocess.Popen(self.command, stdin=subprocess.DEVNULL)
        try:
            os.setpriority(os.PRIO_PROCESS, self._process.pid, self.niceness)
        except OSError:
            log.warning("could not lower the worker's CPU priority", exc_info=True)
        log.info("worker process started", extra={"pid": self._process.pid})

    def _watch(self) -> None:
        while not self._stopping.is_set():
            code = self._process.wait()
            if self._stopping.is_set():
                return
            log.error("ALERT: the worker process exited; starting it again",
                      extra={"pid": self._process.pid, "exit_code": code})
            if self._stopping.wait(RESTART_AFTER_SECONDS):
                return
            self._spawn()
