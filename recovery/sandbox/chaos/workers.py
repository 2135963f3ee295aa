"""The engine's worker in separate processes for a chaos run, driven step by step by the sandbox.

Each worker is a fresh process (``spawn``: nothing of the driver's threads or connections is
inherited) that builds the real services on the run's database and reaches the fake Stripe over
loopback HTTP through the chaos transport, which may kill it with SIGKILL. The driver sends
``("step", now)``; every worker sets its clock to ``now`` and runs the worker's jobs once, as the
scheduler would tick them, then answers ``("done", ran)``. Messages go back over the same pipe
(``("message", OutgoingMessage)`` answered by ``("ack", error)``), so that they reach the World,
which lives in the driver. A worker that died is counted and replaced by a new process with a
new worker id; its claims come back to the queue when their leases run out, as in production.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.connection import Connection, wait

import httpx

from recovery.engine.planning import Planner
from recovery.messaging.notifier import OutgoingMessage
from recovery.rules.policy import RetryPolicy
from recovery.runtime.clock import VirtualClock
from recovery.runtime.settings import Settings
from recovery.stripe_api.gateway import StripeGateway
from recovery.wiring import Services, build_scorer, build_services, wire_engine
from recovery.worker.jobs import (
    fetch_thin_event_snapshots,
    ingest_inbox,
    refresh_pending_decline_details,
    release_stale_action_claims,
    release_stale_inbox_claims,
    resend_pending_messages,
    run_actions,
)

log = logging.getLogger("recovery.sandbox.chaos")
STEP_TIMEOUT_SECONDS = 300  # a step that takes longer than this is a hang, not slowness
# The jobs in the order one scheduler tick of a worker would run them.
STEP_JOBS = (release_stale_inbox_claims, release_stale_action_claims, fetch_thin_event_snapshots,
             ingest_inbox, refresh_pending_decline_details, run_actions, resend_pending_messages)


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a worker process needs, picklable: it shares no memory with the driver."""

    database_url: str
    fake_stripe_url: str
    webhook_secret: str
    policy: RetryPolicy
    start: datetime
    timezones: dict[str, str]  # Stripe customer id -> IANA timezone (the World's)
    plan: object | None = None  # a ChaosPlan, or None for a calm run
    ingest_batch_size: int = 500


class PipeChannel:
    """The worker's message channel: hands each message to the driver and waits for its answer.
    A refusal raises, so the message stays pending and is sent again, as with a real provider."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def deliver(self, message: OutgoingMessage) -> None:
        self._conn.send(("message", message))
        kind, error = self._conn.recv()
        if kind != "ack" or error:
            raise RuntimeError(f"the sandbox's channel refused the message: {error}")


def _timezone_lookup(timezones: dict[str, str]) -> Callable[[str | None], str]:
    return lambda customer_id: timezones.get(customer_id or "", "UTC")


def build_worker_services(spec: WorkerSpec, conn: Connection,
                          worker_id: str) -> tuple[Services, httpx.BaseTransport]:
    """The real services, wired to the fake Stripe over HTTP (through the chaos transport)."""
    clock = VirtualClock(spec.start)
    settings = Settings(database_url=spec.database_url, stripe_webhook_secrets=spec.webhook_secret,
                        run_worker=False, stripe_api_key=None,
                        ingest_batch_size=spec.ingest_batch_size)
    services = build_services(settings, clock)
    services.worker_id = worker_id
    transport: httpx.BaseTransport = httpx.HTTPTransport()
    if spec.plan is not None:
        from recovery.sandbox.chaos.transport import ChaoticTransport  # noqa: PLC0415

        # Each process start draws its own faults: a restarted worker must not meet, for the
        # same request, the very fault that killed its predecessor, forever.
        transport = ChaoticTransport(transport, spec.plan, incarnation=worker_id)
    # Like the composition root's gateway, it sends a safe request again at once after Stripe
    # trouble, without the waits: the virtual clock stands still within a step.
    gateway = StripeGateway("sk_test_sandbox", api_base=spec.fake_stripe_url, transport=transport,
                            transient_retries=settings.stripe_transient_retries,
                            wait=lambda _seconds: None)
    planner = Planner(clock, scorer=build_scorer(services.settings), policy_override=spec.policy,
                      timezone_of=_timezone_lookup(spec.timezones))
    wire_engine(services, gateway, PipeChannel(conn), planner)
    return services, transport


def worker_main(spec: WorkerSpec, conn: Connection, worker_id: str) -> None:
    """A worker process: run one step per command until told to stop (or killed)."""
    logging.basicConfig(level=logging.ERROR)
    services, transport = build_worker_services(spec, conn, worker_id)
    clock = services.clock
    try:
        while True:
            command, moment = conn.recv()
            if command == "stop":
                return
            if moment > clock.now():
                clock.set(moment)
            ran = 0
            for job in STEP_JOBS:
                try:
                    ran += job(services) or 0
                except Exception as problem:  # noqa: BLE001 - a job's failure ends no worker
                    # Expected under chaos (a dropped connection, say): one line, no traceback.
                    log.error("job %s failed: %s", job.__name__,
                              str(problem).splitlines()[0] if str(problem) else repr(problem))
            # The transport's fault counts so far: the driver keeps the latest of each worker.
            conn.send(("done", (ran, dict(getattr(transport, "counts", {})))))
    except (EOFError, KeyboardInterrupt):
        return
    finally:
        services.close()


@dataclass
class _Worker:
    index: int
    generation: int
    process: multiprocessing.process.BaseProcess
    conn: Connection

    @property
    def worker_id(self) -> str:
        return f"chaos-{self.index}-{self.generation}"


@dataclass
class PoolCounts:
    steps: int = 0
    deaths: int = 0  # processes that died (SIGKILL from the chaos transport, or a crash)
    restarts: int = 0
    messages: int = 0
    exit_codes: dict[int, int] = field(default_factory=dict)


class WorkerPool:
    """``count`` worker processes; ``step(now)`` runs one tick of every worker's jobs at once."""

    def __init__(self, count: int, spec: WorkerSpec,
                 deliver_message: Callable[[OutgoingMessage], None]) -> None:
        self.spec = spec
        self._deliver_message = deliver_message
        self._context = multiprocessing.get_context("spawn")
        self.counts = PoolCounts()
        self._ran = 0
        self._faults: dict[str, dict[str, int]] = {}  # worker id -> its transport's counts
        self._workers = [self._start(index, 0) for index in range(count)]

    def _start(self, index: int, generation: int) -> _Worker:
        ours, theirs = self._context.Pipe()
        worker = _Worker(index, generation, None, ours)  # type: ignore[arg-type]
        worker.process = self._context.Process(
            target=worker_main, args=(self.spec, theirs, worker.worker_id),
            name=worker.worker_id, daemon=True)
        worker.process.start()
        theirs.close()
        return worker

    def step(self, moment: datetime, during: Callable[[], None] | None = None) -> int:
        """Every worker runs its jobs at ``moment``; returns, when all answered or died, how
        many rows their jobs handled. Dead workers are replaced (the new process takes the next
        step). ``during`` is called once while the workers run (the driver's own faults, such
        as a dropped connection)."""
        self.counts.steps += 1
        self._ran = 0
        running = {}
        for worker in self._workers:
            try:
                worker.conn.send(("step", moment))
                running[worker.conn] = worker
            except (BrokenPipeError, OSError):
                self._replace(worker)
        if during is not None:
            during()
        while running:
            sentinels = {w.process.sentinel: w for w in running.values()}
            ready = wait([*running, *sentinels], timeout=STEP_TIMEOUT_SECONDS)
            if not ready:
                raise TimeoutError(f"workers hung for {STEP_TIMEOUT_SECONDS} s at {moment}")
            for item in ready:
                worker = running.get(item) or sentinels.get(item)
                if worker is None or worker.conn not in running:
                    continue
                if not self._serve(worker):
                    del running[worker.conn]
        return self._ran

    def _serve(self, worker: _Worker) -> bool:
        """Handle what the worker sent; False once it finished its step or died."""
        try:
            if not worker.conn.poll():
                if worker.process.is_alive():
                    return True
                raise EOFError
            kind, payload = worker.conn.recv()
        except (EOFError, OSError):
            self._replace(worker)
            return False
        if kind == "done":
            ran, faults = payload
            self._ran += ran
            self._faults[worker.worker_id] = faults
            return False
        error = None
        try:
            self._deliver_message(payload)
            self.counts.messages += 1
        except Exception as problem:  # noqa: BLE001 - the worker keeps the message pending
            error = repr(problem)
        worker.conn.send(("ack", error))
        return True

    def _replace(self, dead: _Worker) -> None:
        dead.process.join(timeout=10)
        code = dead.process.exitcode if dead.process.exitcode is not None else 0
        self.counts.deaths += 1
        self.counts.exit_codes[code] = self.counts.exit_codes.get(code, 0) + 1
        dead.conn.close()
        replacement = self._start(dead.index, dead.generation + 1)
        self._workers[dead.index] = replacement
        self.counts.restarts += 1

    def fault_counts(self) -> dict[str, int]:
        """API faults injected, summed over every worker process that reported (a killed
        worker's faults since its last step are not known)."""
        total: dict[str, int] = {}
        for counts in self._faults.values():
            for kind, count in counts.items():
                total[kind] = total.get(kind, 0) + count
        return total

    @property
    def worker_ids(self) -> list[str]:
        return [w.worker_id for w in self._workers]

    def close(self) -> None:
        for worker in self._workers:
            with contextlib.suppress(BrokenPipeError, OSError):
                worker.conn.send(("stop", None))
        for worker in self._workers:
            worker.process.join(timeout=10)
            if worker.process.is_alive():
                worker.process.kill()
            worker.conn.close()
