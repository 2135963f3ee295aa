"""Group commit for the receiver: one thread writes the verified events of concurrent requests to
the inbox together, one multi-row ``INSERT .. ON CONFLICT DO NOTHING`` and one commit per batch.

A request hands its entry over and waits; nothing is answered before the batch that holds it has
committed. Whatever arrives while a batch is being written forms the next one, so under load the
commits (the database's costliest step per request) are shared, and a lone request waits for
nobody. Duplicates are told apart per request: of two deliveries of one event in a batch the
first is stored and the second answered as a duplicate, as if they had come one after the other.
If a batch fails, each of its entries is written again alone, so that one bad row cannot make
Stripe re-send the others forever; an entry that still fails is answered ``StoreFailed``.
The thread keeps one database connection while entries keep coming (a session and a pool
checkout per batch cost as much as the insert) and gives it back when it runs out of work; after
an error it takes a fresh one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from webhooks.inbox import InboxEntry, inbox_row, store_rows

log = logging.getLogger("webhooks.receiver")

# Rows in one statement at most: far above what 32 concurrent deliveries queue, and within
# every driver's limit of bound parameters (13 per row).
MAX_BATCH = 500


class StoreFailed(Exception):
    """The entry could not be stored (the database refused or the writer is stopping)."""


@dataclass
class _Waiting:
    key: tuple[str, str]
    row: dict
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop


class InboxWriter:
    """One writer thread, started at the first ``store``; ``stop()`` writes what is queued."""

    def __init__(self, sessions: Callable[[], Session], clock, *,
                 max_batch: int = MAX_BATCH) -> None:
        self._sessions, self._clock, self._max_batch = sessions, clock, max_batch
        self._queue: list[_Waiting] = []
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._connection: Connection | None = None  # the writer thread's own

    async def store(self, account_id: str, entry: InboxEntry) -> bool:
        """True when this delivery stored the event, False for a duplicate; ``StoreFailed``
        when it could not be stored (answer non-2xx: Stripe delivers it again)."""
        loop = asyncio.get_running_loop()
        waiting = _Waiting((account_id, entry.stripe_event_id),
                           inbox_row(account_id, entry, self._clock.now()),
                           loop.create_future(), loop)
        with self._wake:
            if self._stopping:
                raise StoreFailed("the receiver is stopping")
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="inbox-writer",
                                                daemon=True)
                self._thread.start()
            self._queue.append(waiting)
            self._wake.notify()
        return await waiting.future

    def stop(self, timeout: float = 5.0) -> None:
        """Refuse new entries, write the queued ones, and end the thread."""
        with self._wake:
            self._stopping = True
            self._wake.notify()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        try:
            while True:
                with self._wake:
                    while not self._queue and not self._stopping:
                        self._wake.wait()
                    if not self._queue:
                        return
                    batch = self._queue[:self._max_batch]
                    del self._queue[:self._max_batch]
                self._write(batch)
        finally:
            self._drop_connection()

    def _write(self, batch: list[_Waiting]) -> None:
        try:
            outcomes = self._write_together_reconnecting(batch)
        except Exception:  # noqa: BLE001 - each entry alone finds the culprit
            if len(batch) == 1:
                log.exception("storing a webhook event failed",
                              extra={"event": batch[0].key[1]})
                outcomes = [StoreFailed("the event could not be stored")]
            else:
                log.warning("storing a batch of webhook events failed; storing them one by one",
                            exc_info=True)
                outcomes = [self._write_alone(waiting) for waiting in batch]
        with self._wake:
            idle = not self._queue
        if idle:
            # Nothing else to write: the connection goes back to the pool (not held for nothing,
            # and closed with the engine), before anyone is answered.
            self._drop_connection()
        _settle(batch, outcomes)

    def _write_together_reconnecting(self, batch: list[_Waiting]) -> list[bool]:
        try:
            return self._write_together(batch)
        except DBAPIError as error:
            if not error.connection_invalidated:
                raise
            # The connection was gone (the database restarted, or ended it): once more on a new
            # one. Safe even if the lost commit had landed: the insert skips stored events.
            log.warning("the inbox writer's connection was lost; writing on a new one")
            return self._write_together(batch)

    def _write_together(self, batch: list[_Waiting]) -> list[bool]:
        first_of: dict[tuple[str, str], int] = {}
        for index, waiting in enumerate(batch):
            first_of.setdefault(waiting.key, index)
        rows = [batch[index].row for index in first_of.values()]
        connection = self._open_connection()
        try:
            stored = store_rows(connection, rows)
            connection.commit()
        except BaseException:
            self._drop_connection()  # whatever state it is in, the next batch starts afresh
            raise
        return [waiting.key in stored and first_of[waiting.key] == index
                for index, waiting in enumerate(batch)]

    def _open_connection(self) -> Connection:
        if self._connection is None:
            with self._sessions() as session:
                engine = session.get_bind()
            self._connection = engine.connect()
        return self._connection

    def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):  # a broken connection is discarded anyway
                connection.close()

    def _write_alone(self, waiting: _Waiting) -> bool | StoreFailed:
        try:
            return self._write_together([waiting])[0]
        except Exception:  # noqa: BLE001 - answered 503: Stripe delivers it again
            log.exception("storing a webhook event failed", extra={"event": waiting.key[1]})
            return StoreFailed("the event could not be stored")


def _settle(batch: list[_Waiting], outcomes: list) -> None:
    """Answer each waiting request on its own event loop (one call per loop)."""
    by_loop: dict[asyncio.AbstractEventLoop, list] = {}
    for waiting, outcome in zip(batch, outcomes, strict=True):
        by_loop.setdefault(waiting.loop, []).append((waiting.future, outcome))
    for loop, answers in by_loop.items():
        # A loop that has closed raises RuntimeError: nobody waits for those answers any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_answer, answers)


def _answer(answers: list) -> None:
    for future, outcome in answers:
        if future.done():
            continue  # the request was cancelled (its client went away)
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
