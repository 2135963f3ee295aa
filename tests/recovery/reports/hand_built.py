"""A hand-built account for the metrics tests: ten cases in October 2026 whose every figure is
worked out by hand in the tests, two cases just outside the period, and a second account whose
data must never show up.

    case  cust   first failure     amount   status (closed)                 how          plan
    C1    cus_a  Mon 10-05 10:00   usd 10   recovered 10-07 10:00 (2 d)     retry        30 d
    C2    cus_b  Tue 10-06 09:00   usd 50   recovered 10-16 09:00 (10 d)    card_update  365 d
    C3    cus_a  Mon 10-12 08:00   usd 20   recovered 11-20 08:00 (39 d)    customer     30 d
    C4    cus_c  Tue 10-13 12:00   eur 30   recovered 11-12 12:00 (30 d)    customer     30 d
    C5    cus_a  Tue 10-20 07:00   usd 80   exhausted 11-10 07:00                        30 d
    C6    cus_b  Wed 10-21 15:00   usd 15   open                                         30 d
    C7    cus_d  Thu 10-22 15:00   usd 250  open                                         -
    C8    cus_e  Mon 10-26 06:00   usd 7    recovered 10-26 11:00 (5 h)     offer        7 d
    C11   cus_d  Wed 10-28 06:00   usd 12   canceled 11-02 06:00                         30 d
    C12   cus_f  Thu 10-29 06:00   eur 40   open                                         365 d
    C9    cus_a  09-28 (before the period)  C10  cus_a  11-01 00:00 (the period's end)

Attempts (first one = the decline that opened the case; class / brand / country):
C1 stripe fail retry/visa/US, engine paid; C2 stripe fail new_payment_method/mastercard/GB,
engine fail retry/visa/US, engine paid; C3 stripe fail retry/visa/US, engine fail; C4 stripe fail
retry/visa/DE (paid outside: no successful charge); C5 stripe fail retry/amex/US, 3 engine
fails; C6 stripe fail retry/visa/US; C7 stripe fail new_payment_method/visa/US; C8 stripe fail
retry/mastercard/GB, engine paid; C11 stripe fail stop/visa/FR; C12 stripe fail, nothing known.

Messages (sent unless said): C1 email payment_failed; C2 email payment_failed, sms
card_update_request 10-10; C3 email payment_failed, email reminder 10-19, sms reminder 11-15
(after its 30-day window, before it closed); C4 email payment_failed; C5 email payment_failed,
reminder, final_notice, and an sms that failed; C6 email payment_failed and a pending sms;
C8 email payment_failed, and payment_recovered after it closed; C12 sms payment_failed.
C1 ran policy version 2 in arm "A"; C2 ran arm "B".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from models import Account, ChargeAttempt, Message, RecoveryCase
from recovery.engine.case_tallies import recount
from recovery.reports.cohort import Period
from recovery.runtime.db import SessionFactory, transaction

OTHER_ACCOUNT = "acct_metrics_other"
PERIOD = Period(datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC), 30)


def at(month: int, day: int, hour: int = 0) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


@dataclass
class Case:
    name: str
    customer: str
    first: datetime
    currency: str
    amount: int
    status: str = "open"
    closed: datetime | None = None
    how: str | None = None
    plan_days: int | None = 30
    policy_version: int | None = None
    arm: str | None = None
    # (hours after the first failure, by, succeeded, class, brand, country)
    attempts: list[tuple] = field(default_factory=list)
    # (sent at, channel, kind, status)
    messages: list[tuple] = field(default_factory=list)


def fail(offset_hours: float, by: str, decline_class: str | None = "retry",
         brand: str | None = "visa", country: str | None = "US") -> tuple:
    return (offset_hours, by, False, decline_class, brand, country)


def paid(offset_hours: float) -> tuple:
    return (offset_hours, "engine", True, None, "visa", "US")


CASES = [
    Case("C1", "cus_a", at(10, 5, 10), "usd", 1000, "recovered", at(10, 7, 10), "retry",
         policy_version=2, arm="A", attempts=[fail(0, "stripe"), paid(48)],
         messages=[(at(10, 5, 11), "email", "payment_failed", "sent")]),
    Case("C2", "cus_b", at(10, 6, 9), "usd", 5000, "recovered", at(10, 16, 9), "card_update",
         plan_days=365, arm="B",
         attempts=[fail(0, "stripe", "new_payment_method", "mastercard", "GB"),
                   fail(72, "engine"), paid(240)],
         messages=[(at(10, 6, 10), "email", "payment_failed", "sent"),
                   (at(10, 10, 9), "sms", "card_update_request", "sent")]),
    Case("C3", "cus_a", at(10, 12, 8), "usd", 2000, "recovered", at(11, 20, 8), "customer",
         attempts=[fail(0, "stripe"), fail(72, "engine")],
         messages=[(at(10, 12, 9), "email", "payment_failed", "sent"),
                   (at(10, 19, 8), "email", "reminder", "sent"),
                   (at(11, 15, 8), "sms", "reminder", "sent")]),
    Case("C4", "cus_c", at(10, 13, 12), "eur", 3000, "recovered", at(11, 12, 12), "customer",
         attempts=[fail(0, "stripe", "retry", "visa", "DE")],
         messages=[(at(10, 13, 13), "email", "payment_failed", "sent")]),
    Case("C5", "cus_a", at(10, 20, 7), "usd", 8000, "exhausted", at(11, 10, 7),
         attempts=[fail(0, "stripe", "retry", "amex", "US"), fail(24, "engine"),
                   fail(96, "engine"), fail(240, "engine")],
         messages=[(at(10, 20, 8), "email", "payment_failed", "sent"),
                   (at(10, 27, 8), "email", "reminder", "sent"),
                   (at(11, 8, 8), "email", "final_notice", "sent"),
                   (at(11, 8, 9), "sms", "final_notice", "failed")]),
    Case("C6", "cus_b", at(10, 21, 15), "usd", 1500,
         attempts=[fail(0, "stripe")],
         messages=[(at(10, 21, 16), "email", "payment_failed", "sent"),
                   (at(10, 22, 16), "sms", "reminder", "pending")]),
    Case("C7", "cus_d", at(10, 22, 15), "usd", 25000, plan_days=None,
         attempts=[fail(0, "stripe", "new_payment_method", "visa", "US")]),
    Case("C8", "cus_e", at(10, 26, 6), "usd", 700, "recovered", at(10, 26, 11), "offer",
         plan_days=7, attempts=[fail(0, "stripe", "retry", "mastercard", "GB"), paid(5)],
         messages=[(at(10, 26, 7), "email", "payment_failed", "sent"),
                   (at(10, 26, 12), "email", "payment_recovered", "sent")]),
    Case("C11", "cus_d", at(10, 28, 6), "usd", 1200, "canceled", at(11, 2, 6),
         attempts=[fail(0, "stripe", "stop", "visa", "FR")]),
    Case("C12", "cus_f", at(10, 29, 6), "eur", 4000, plan_days=365,
         attempts=[fail(0, "stripe", None, None, None)],
         messages=[(at(10, 29, 8), "sms", "payment_failed", "sent")]),
    # Outside the period: the day before it starts, and its (exclusive) end.
    Case("C9", "cus_a", at(9, 28, 10), "usd", 4000, "recovered", at(9, 29, 10), "retry",
         attempts=[fail(0, "stripe"), paid(24)],
         messages=[(at(9, 28, 11), "email", "payment_failed", "sent")]),
    Case("C10", "cus_a", at(11, 1, 0), "usd", 900,
         attempts=[fail(0, "stripe")]),
]

# The other account: same customer id and period, and figures that would show if it leaked.
OTHER_CASES = [
    Case("B1", "cus_a", at(10, 10, 10), "usd", 99999, "recovered", at(10, 11, 10), "retry",
         attempts=[fail(0, "stripe", "stop", "jcb", "JP"), paid(24)],
         messages=[(at(10, 10, 11), "sms", "payment_failed", "sent")]),
    Case("B2", "cus_z", at(10, 12, 10), "gbp", 777,
         attempts=[fail(0, "stripe", "authentication", "visa", "GB")]),
]


def build(sessions: SessionFactory, account_id: str, now: datetime,
          other_account: str = OTHER_ACCOUNT) -> dict[str, int]:
    """Write both accounts' cases; returns each case's id by name."""
    ids: dict[str, int] = {}
    with transaction(sessions) as session:
        if session.get(Account, other_account) is None:
            session.add(Account(id=other_account, name="other", created_at=now))
        session.flush()
        for owner, cases in ((account_id, CASES), (other_account, OTHER_CASES)):
            for spec in cases:
                ids[spec.name] = _write(session, owner, spec, now)
    return ids


def _write(session, account_id: str, spec: Case, now: datetime) -> int:
    case = RecoveryCase(
        account_id=account_id, stripe_invoice_id=f"in_{spec.name}",
        stripe_customer_id=spec.customer, amount_due=spec.amount, currency=spec.currency,
        status=spec.status, recovered_by=spec.how, plan_interval_days=spec.plan_days,
        policy_version=spec.policy_version, experiment_arm=spec.arm,
        first_failed_at=spec.first, closed_at=spec.closed, created_at=now, updated_at=now)
    session.add(case)
    session.flush()
    for n, (hours, by, succeeded, decline_class, brand, country) in enumerate(spec.attempts):
        session.add(ChargeAttempt(
            account_id=account_id, case_id=case.id, stripe_invoice_id=case.stripe_invoice_id,
            stripe_charge_id=f"ch_{spec.name}_{n}",
            attempted_at=spec.first + timedelta(hours=hours),
            by=by, succeeded=succeeded, decline_class=decline_class, card_brand=brand,
            card_country=country, amount=spec.amount, currency=spec.currency, created_at=now))
    for n, (sent_at, channel, kind, status) in enumerate(spec.messages):
        session.add(Message(
            account_id=account_id, case_id=case.id, message_id=f"<{spec.name}-{n}@test>",
            stripe_customer_id=spec.customer, kind=kind, channel=channel, status=status,
            created_at=sent_at, sent_at=sent_at if status == "sent" else None))
    session.flush()
    recount(session, case)  # the tallies the engine keeps as it records them
    return case.id
