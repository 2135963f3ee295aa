"""A realistic synthetic attempt log with a learnable signal, written as the engine writes it.

Each customer has a payday (a day of month) and a time zone. Monthly invoices are paid on
their billing day when it falls soon after payday, else they fail with ``insufficient_funds``
(some with ``do_not_honor``) and open a case. Retries come at random times over the next two
weeks; one soon after the customer's payday (local time) mostly succeeds, others mostly fail,
and ``do_not_honor`` declines succeed less. A recovered invoice is paid at the retry's time.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from models import Account, ChargeAttempt, FinishedInvoice, RecoveryCase

ZONES = ("America/New_York", "Europe/Berlin", "Asia/Kolkata", "America/Los_Angeles", "UTC")
START = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Customer:
    customer_id: str
    zone: str
    payday: int
    billing_day: int
    brand: str


def days_after_payday(at: datetime, customer: Customer) -> int:
    local = at.astimezone(ZoneInfo(customer.zone))
    return (local.day - customer.payday) % 30


def success_chance(at: datetime, customer: Customer, decline_code: str,
                   learnable: bool) -> float:
    if not learnable:
        return 0.3
    chance = 0.75 if days_after_payday(at, customer) <= 3 else 0.08
    return chance * (0.5 if decline_code == "do_not_honor" else 1.0)


def ensure_account(session, account_id: str) -> None:
    if session.get(Account, account_id) is None:
        session.add(Account(id=account_id, name=account_id, created_at=START))
        session.flush()


def write_log(session, account_id: str = "acct_default", *, customers: int = 150,
              months: int = 8, seed: int = 1, learnable: bool = True,
              start: datetime = START) -> list[Customer]:
    """Write the account's invoices, cases and attempts; returns the customers."""
    rng = random.Random(seed)
    ensure_account(session, account_id)
    people = [Customer(f"cus_{seed}_{n}", rng.choice(ZONES), rng.randint(1, 28),
                       rng.randint(1, 28), rng.choice(("visa", "mastercard")))
              for n in range(customers)]
    for month in range(months):
        for customer in people:
            billed = _billing_time(start, month, customer, rng)
            _invoice(session, account_id, customer, billed, month, rng, learnable)
    session.flush()
    return people


def _billing_time(start: datetime, month: int, customer: Customer, rng) -> datetime:
    first = (start.replace(day=1) + timedelta(days=32 * month)).replace(day=1)
    return first + timedelta(days=customer.billing_day - 1, hours=rng.randint(0, 23),
                             minutes=rng.randint(0, 59))


def _invoice(session, account_id: str, customer: Customer, billed: datetime, month: int,
             rng, learnable: bool) -> None:
    invoice_id = f"in_{customer.customer_id}_{month}"
    paid_on_time = rng.random() < (0.95 if days_after_payday(billed, customer) <= 10 else 0.1)
    if paid_on_time:
        session.add(FinishedInvoice(account_id=account_id, stripe_invoice_id=invoice_id,
                                    stripe_customer_id=customer.customer_id, status="paid",
                                    finished_at=billed))
        return
    decline = "do_not_honor" if rng.random() < 0.3 else "insufficient_funds"
    case = RecoveryCase(
        account_id=account_id, stripe_invoice_id=invoice_id,
        stripe_customer_id=customer.customer_id, stripe_subscription_id=f"sub_{customer}",
        amount_due=rng.choice((999, 2900, 9900)), currency="usd", status="open",
        card_fingerprint=f"fp_{customer.customer_id}", card_brand=customer.brand,
        customer_timezone=customer.zone, plan_interval_days=30, first_failed_at=billed,
        created_at=billed, updated_at=billed)
    session.add(case)
    session.flush()
    _attempt(session, case, customer, billed, False, decline, "stripe")
    at = billed
    for _retry in range(4):
        at = at + timedelta(hours=rng.randint(20, 120), minutes=rng.randint(0, 59))
        succeeded = rng.random() < success_chance(at, customer, decline, learnable)
        _attempt(session, case, customer, at, succeeded, decline, rng.choice(("stripe", "engine")))
        if succeeded:
            case.status, case.recovered_by, case.closed_at = "recovered", "retry", at
            session.add(FinishedInvoice(account_id=account_id, stripe_invoice_id=invoice_id,
                                        stripe_customer_id=customer.customer_id,
                                        status="paid", finished_at=at))
            return
    case.status, case.closed_at = "exhausted", at


def _attempt(session, case: RecoveryCase, customer: Customer, at: datetime, succeeded: bool,
             decline: str, by: str) -> None:
    declined = not succeeded
    session.add(ChargeAttempt(
        account_id=case.account_id, case_id=case.id, stripe_invoice_id=case.stripe_invoice_id,
        attempted_at=at, by=by, succeeded=succeeded, card_fingerprint=case.card_fingerprint,
        card_brand=customer.brand, card_funding="credit", card_country="US",
        card_exp_month=12, card_exp_year=2028, amount=case.amount_due, currency="usd",
        failure_code="card_declined" if declined else None,
        decline_code=decline if declined else None,
        decline_class=("retry" if decline == "insufficient_funds" else "retry_limited")
        if declined else None,
        features={"propensity": 0.5} if by == "engine" else None, created_at=at))
