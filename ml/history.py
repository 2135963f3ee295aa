"""What was known about a case at a given time: ``DecisionSnapshot``s from the attempt log.

``AccountLog`` holds an account's cases, attempts and paid invoices in memory and answers
"the snapshot of case C as of time T" from rows strictly before T only. The scorer asks for the
cases it is deciding now (``snapshots_for_cases``); the training set asks, for every attempt, as
of just before it (``ml.dataset``): both go through ``AccountLog.snapshot``.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
from sqlalchemy import case as sql_case
from sqlalchemy import func, select
from sqlmodel import Session

from ml.features import CardFacts, CustomerHistory, DecisionSnapshot, epoch_ns
from models import ChargeAttempt, FinishedInvoice, RecoveryCase

IN_LIST_CHUNK = 500
# Core columns, not ORM attributes: rows come back as plain tuples, without ORM loading.
CASES, ATTEMPTS, PAID = (RecoveryCase.__table__.c, ChargeAttempt.__table__.c,
                         FinishedInvoice.__table__.c)
CASE_COLUMNS = tuple(CASES[name] for name in (
    "id", "stripe_invoice_id", "stripe_customer_id", "customer_timezone", "first_failed_at",
    "amount_due", "currency", "plan_interval_days", "card_fingerprint", "card_brand", "status",
    "closed_at", "recovered_by"))
ATTEMPT_COLUMNS = tuple(ATTEMPTS[name] for name in (
    "id", "case_id", "stripe_invoice_id", "attempted_at", "by", "succeeded", "decline_class",
    "decline_code", "advice_code", "network_decline_code", "network_advice_code",
    "card_fingerprint", "card_brand", "card_funding", "card_country", "card_exp_month",
    "card_exp_year"))


def snapshots_for_cases(session: Session, account_id: str, case_ids: Sequence[int],
                        as_of: datetime) -> dict[int, DecisionSnapshot]:
    """The snapshot of each case as of ``as_of``, in a few queries; rows at or after ``as_of``
    are never read. Unknown case ids are left out."""
    log = AccountLog.load(session, account_id, case_ids=case_ids, before=as_of)
    return {case_id: log.snapshot(case_id, as_of) for case_id in case_ids if case_id in log.cases}


def card_of(row) -> CardFacts:
    return CardFacts(brand=row.card_brand, funding=row.card_funding, country=row.card_country,
                     exp_month=row.card_exp_month, exp_year=row.card_exp_year)


@dataclass
class _Timeline:
    """Times (ns, sorted) with a row per time: what happened to one case or one customer."""

    at: list[int]
    rows: list

    @classmethod
    def of(cls, pairs: list[tuple[datetime, object]]) -> _Timeline:
        pairs.sort(key=lambda pair: pair[0])
        return cls([epoch_ns(at) for at, _ in pairs], [row for _, row in pairs])

    def before(self, as_of: datetime) -> list:
        return self.rows[:self.count_before(as_of)]

    def count_before(self, as_of: datetime) -> int:
        return bisect_left(self.at, epoch_ns(as_of))


class AccountLog:
    """An account's cases, attempts and paid invoices, read once; snapshots at any time."""

    def __init__(self, account_id: str, cases: list, attempts: list, paid: list) -> None:
        self.account_id = account_id
        self.cases = {case.id: case for case in cases}
        by_case: dict[int, list] = defaultdict(list)
        for attempt in attempts:
            if attempt.case_id is not None:
                by_case[attempt.case_id].append((attempt.attempted_at, attempt))
        self.case_attempts = {case_id: _Timeline.of(rows) for case_id, rows in by_case.items()}
        self._customer_cases = self._by_customer(cases)
        self._payments = self._paid_by_customer(attempts, paid)
        self._rates = _AccountRates(self.case_attempts)
        self._local: dict[tuple[str, str], tuple[list[int], list[int]]] = {}

    @classmethod
    def load(cls, session: Session, account_id: str, *, case_ids: Sequence[int] | None = None,
             before: datetime | None = None, with_features: bool = False) -> AccountLog:
        """Every row of the account (``case_ids`` None), or only what snapshots of these cases
        need: their customers' cases, attempts and paid invoices. ``before``: only rows older.
        ``with_features``: attempts keep their logged ``features`` (propensities)."""
        cases = _load_cases(session, account_id, case_ids, before)
        customers = sorted({c.stripe_customer_id for c in cases if c.stripe_customer_id})
        if case_ids is not None:
            cases += _load_customer_cases(session, account_id, customers, before)
        attempts = _load_attempts(session, account_id, [c.id for c in cases]
                                  if case_ids is not None else None, before, with_features)
        paid = _load_paid(session, account_id, customers if case_ids is not None else None,
                          before)
        log = cls(account_id, list({c.id: c for c in cases}.values()), attempts, paid)
        if case_ids is not None:
            # The account's base rates count every case's attempts, not only these customers'.
            log._rates = _AccountRates.load(session, account_id, before)
        return log

    def _by_customer(self, cases: list) -> dict[str, _Timeline]:
        grouped: dict[str, list] = defaultdict(list)
        for case in cases:
            grouped[_customer_key(case)].append((case.first_failed_at, case))
        return {key: _Timeline.of(rows) for key, rows in grouped.items()}

    def _paid_by_customer(self, attempts: list, paid: list) -> dict[str, _Timeline]:
        # One payment per invoice: the earliest report of it (a successful attempt, or the
        # invoice's paid time when no attempt of ours or Stripe's recorded it).
        first_paid: dict[tuple[str, str], datetime] = {}
        for invoice_id, customer, at in [
                *((row.stripe_invoice_id, row.stripe_customer_id, row.finished_at)
                  for row in paid),
                *((a.stripe_invoice_id, _customer_key(self.cases[a.case_id]), a.attempted_at)
                  for a in attempts if a.succeeded and a.case_id in self.cases)]:
            if customer is None:
                continue
            key = (customer, invoice_id or f"attempt:{at.isoformat()}")
            first_paid[key] = min(at, first_paid.get(key, at))
        grouped: dict[str, list] = defaultdict(list)
        for (customer, _invoice), at in first_paid.items():
            grouped[customer].append((at, at))
        return {customer: _Timeline.of(rows) for customer, rows in grouped.items()}

    def snapshot(self, case_id: int, as_of: datetime, *,
                 card: CardFacts | None = None) -> DecisionSnapshot:
        """Case ``case_id`` as known just before ``as_of``. ``card``: the card the decision is
        about when the caller knows it (the attempt's own card, for a training row); else the
        card of the case's latest attempt."""
        case = self.cases[case_id]
        timeline = self.case_attempts.get(case_id)
        earlier = timeline.before(as_of) if timeline else []
        last = earlier[-1] if earlier else None
        declined = next((a for a in reversed(earlier) if not a.succeeded), None)
        zone = _zone(case.customer_timezone)
        return DecisionSnapshot(
            account_id=self.account_id, case_id=case_id, timezone=zone.key,
            first_failed_at=case.first_failed_at,
            last_attempt_at=last.attempted_at if last else None,
            attempt_number=len(earlier) + 1,
            decline_class=declined.decline_class if declined else None,
            decline_code=declined.decline_code if declined else None,
            advice_code=declined.advice_code if declined else None,
            network_decline_code=declined.network_decline_code if declined else None,
            network_advice_code=declined.network_advice_code if declined else None,
            card=card or (card_of(last) if last else CardFacts(case.card_brand, None, None,
                                                                None, None)),
            amount=case.amount_due, currency=case.currency,
            interval_days=case.plan_interval_days,
            customer_since=self._customer_since(case, as_of),
            history=self._history(case, as_of, zone),
            account_rates=self._rates.before(as_of),
        )

    def _history(self, case, as_of: datetime, zone: ZoneInfo) -> CustomerHistory:
        key = _customer_key(case)
        payments = self._payments.get(key)
        count = payments.count_before(as_of) if payments else 0
        days, hours = self._local_payments(key, zone) if count else ((), ())
        cases = self._customer_cases[key].before(as_of)
        others = [c for c in cases if c.id != case.id]
        recovered = [c for c in others if c.status == "recovered" and c.closed_at is not None
                     and c.closed_at < as_of]
        return CustomerHistory(
            paid_days_of_month=tuple(days[:count]), paid_hours=tuple(hours[:count]),
            last_success_at=payments.rows[count - 1] if count else None,
            earlier_failures=len(others), earlier_recoveries=len(recovered))

    def _local_payments(self, key: str, zone: ZoneInfo) -> tuple[list[int], list[int]]:
        """Local day of month and hour of each of the customer's payments, converted once."""
        cached = self._local.get((key, zone.key))
        if cached is None:
            local = [at.astimezone(zone) for at in self._payments[key].rows]
            cached = self._local[(key, zone.key)] = ([at.day for at in local],
                                                     [at.hour for at in local])
        return cached

    def _customer_since(self, case, as_of: datetime) -> datetime | None:
        key = _customer_key(case)
        known = [c.first_failed_at for c in self._customer_cases[key].before(as_of)[:1]]
        payments = self._payments.get(key)
        known += payments.before(as_of)[:1] if payments else []
        return min(known) if known else None


class _AccountRates:
    """The account's success rate of retries, by the decline class they followed (+ "all"),
    counting attempts strictly before a time: cumulative counts, looked up by bisection."""

    SMOOTHING = 5.0  # pseudo-attempts pulling a thin class toward the account's overall rate

    def __init__(self, case_attempts: dict[int, _Timeline]) -> None:
        rows = []  # (time, class of the decline it followed, succeeded)
        for timeline in case_attempts.values():
            for previous, attempt in zip(timeline.rows, timeline.rows[1:], strict=False):
                if not previous.succeeded:
                    rows.append((epoch_ns(attempt.attempted_at), previous.decline_class or "none",
                                 bool(attempt.succeeded)))
        rows.sort(key=lambda row: row[0])
        self.at = [row[0] for row in rows]
        self.success = np.cumsum([row[2] for row in rows], dtype=np.int64).tolist()
        self.by_class: dict[str, tuple[list[int], list[int]]] = {}
        for name in {row[1] for row in rows}:
            mine = [row for row in rows if row[1] == name]
            self.by_class[name] = ([row[0] for row in mine],
                                   np.cumsum([row[2] for row in mine], dtype=np.int64).tolist())

    @classmethod
    def load(cls, session: Session, account_id: str, before: datetime | None) -> _AccountRates:
        """The same counts, aggregated by the database (every attempt of the account before
        ``before``, a window function finding the decline each one followed)."""
        order = (ATTEMPTS.attempted_at, ATTEMPTS.id)
        earlier = select(
            ATTEMPTS.attempted_at, ATTEMPTS.succeeded,
            func.lag(ATTEMPTS.decline_class).over(partition_by=ATTEMPTS.case_id, order_by=order)
            .label("followed"),
            func.lag(ATTEMPTS.succeeded).over(partition_by=ATTEMPTS.case_id, order_by=order)
            .label("after_success"),
            func.row_number().over(partition_by=ATTEMPTS.case_id, order_by=order).label("n"),
        ).where(ATTEMPTS.account_id == account_id, ATTEMPTS.case_id.is_not(None))
        if before is not None:
            earlier = earlier.where(ATTEMPTS.attempted_at < before)
        earlier = earlier.subquery()
        followed = func.coalesce(earlier.c.followed, "none")
        counts = session.execute(
            select(followed, func.count(), func.sum(sql_case((earlier.c.succeeded, 1), else_=0)))
            .where(earlier.c.n > 1, earlier.c.after_success.is_(False))
            .group_by(followed)).all()
        rates = cls({})
        rates.fixed = {name: (int(total), int(success or 0)) for name, total, success in counts}
        return rates

    fixed: dict[str, tuple[int, int]] | None = None  # counts already cut at a time (from SQL)

    def before(self, as_of: datetime) -> dict[str, float]:
        if self.fixed is not None:
            return self._from_counts(self.fixed)
        cut = epoch_ns(as_of)
        total = bisect_left(self.at, cut)
        if total == 0:
            return {}
        overall = self.success[total - 1] / total
        rates = {"all": overall}
        for name, (at, success) in self.by_class.items():
            count = bisect_left(at, cut)
            if count:
                rates[name] = (success[count - 1] + self.SMOOTHING * overall) \
                    / (count + self.SMOOTHING)
        return rates

    def _from_counts(self, counts: dict[str, tuple[int, int]]) -> dict[str, float]:
        total = sum(count for count, _ in counts.values())
        if total == 0:
            return {}
        overall = sum(success for _, success in counts.values()) / total
        rates = {"all": overall}
        for name, (count, success) in counts.items():
            rates[name] = (success + self.SMOOTHING * overall) / (count + self.SMOOTHING)
        return rates


def _customer_key(case) -> str:
    # A case without a known customer is its own customer: it shares no history.
    return case.stripe_customer_id or f"case:{case.id}"


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _chunks(values: Sequence) -> list[Sequence]:
    values = list(values)
    return [values[n:n + IN_LIST_CHUNK] for n in range(0, len(values), IN_LIST_CHUNK)]


def _rows_in(session, query, column, values) -> list:
    """``query``'s rows, all of them when ``values`` is None, else those whose ``column`` is one
    of ``values`` (asked in chunks, as databases cap the parameters of one statement)."""
    if values is None:
        return list(session.execute(query))
    return [row for chunk in _chunks(sorted(set(values)))
            for row in session.execute(query.where(column.in_(chunk)))]


def _load_cases(session, account_id, case_ids, before) -> list:
    query = select(*CASE_COLUMNS).where(RecoveryCase.account_id == account_id)
    if before is not None:
        query = query.where(RecoveryCase.first_failed_at < before)
    return _rows_in(session, query, RecoveryCase.id, case_ids)


def _load_customer_cases(session, account_id, customers, before) -> list:
    query = select(*CASE_COLUMNS).where(RecoveryCase.account_id == account_id)
    if before is not None:
        query = query.where(RecoveryCase.first_failed_at < before)
    return _rows_in(session, query, RecoveryCase.stripe_customer_id, customers)


def _load_attempts(session, account_id, case_ids, before, with_features: bool) -> list:
    columns = ATTEMPT_COLUMNS + ((ATTEMPTS.features,) if with_features else ())
    query = select(*columns).where(ChargeAttempt.account_id == account_id,
                                   ChargeAttempt.case_id.is_not(None))
    if before is not None:
        query = query.where(ChargeAttempt.attempted_at < before)
    return _rows_in(session, query, ChargeAttempt.case_id, case_ids)


def _load_paid(session, account_id, customers, before) -> list:
    query = select(FinishedInvoice.stripe_invoice_id, FinishedInvoice.stripe_customer_id,
                   FinishedInvoice.finished_at).where(
        FinishedInvoice.account_id == account_id, FinishedInvoice.status == "paid",
        FinishedInvoice.stripe_customer_id.is_not(None))
    if before is not None:
        query = query.where(FinishedInvoice.finished_at < before)
    return _rows_in(session, query, FinishedInvoice.stripe_customer_id, customers)
