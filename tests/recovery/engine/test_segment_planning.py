"""Planning uses the policy of the first segment a case matches: its amount and plan interval,
the card's country and funding from the latest attempt, the decline's class, and the customer's
earlier failures; a case no segment matches gets the account's own schedule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import select

from models import ActionKind, ChargeAttempt, RecoveryCase, ScheduledAction
from recovery.engine.planning import Planner, PlanRequest
from recovery.engine.policy_versions import replace_policy
from recovery.rules.declines import classify_decline
from webhooks.facts import DeclineInfo

ACCOUNT = "acct_default"
FAILED = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)
POLICY = {
    "offsets_days": [1, 4, 8], "max_retries": 3, "local_hour": 9,
    "segments": [
        {"name": "annual", "match": {"plan_interval": "year", "amount_min": 10000},
         "policy": {"offsets_days": [3, 6], "max_retries": 2}},
        {"name": "debit eu", "match": {"country": ["DE", "FR"], "card_funding": ["debit"]},
         "policy": {"offsets_days": [5], "max_retries": 1}},
        {"name": "repeat", "match": {"earlier_failures_min": 2},
         "policy": {"offsets_days": [2], "max_retries": 1}},
        {"name": "loyal", "match": {"tenure_days_min": 1}, "policy": {"offsets_days": [7]}},
    ],
}


def open_case(session, invoice: str, *, amount: int = 2900, interval: int = 30,
              country: str = "US", funding: str = "credit", customer: str | None = None,
              failed_at: datetime = FAILED) -> RecoveryCase:
    case = RecoveryCase(account_id=ACCOUNT, stripe_invoice_id=invoice, amount_due=amount,
                        stripe_customer_id=customer or f"cus_{invoice}",
                        plan_interval_days=interval, card_fingerprint=f"fp_{invoice}",
                        card_brand="visa", first_failed_at=failed_at, created_at=failed_at,
                        updated_at=failed_at)
    session.add(case)
    session.flush()
    session.add(ChargeAttempt(
        account_id=ACCOUNT, case_id=case.id, stripe_invoice_id=invoice, attempted_at=failed_at,
        card_fingerprint=case.card_fingerprint, card_brand="visa", card_country=country,
        card_funding=funding, failure_code="card_declined", decline_code="insufficient_funds",
        decline_class="retry", amount=amount, created_at=failed_at))
    return case


def first_retries(services, cases: list[RecoveryCase]) -> dict[str, ScheduledAction]:
    with services.sessions() as session:
        rows = session.exec(select(ScheduledAction).where(
            ScheduledAction.kind == ActionKind.retry.value))
        by_case = {row.case_id: row for row in rows}
    return {case.stripe_invoice_id: by_case[case.id] for case in cases}


def test_each_case_is_planned_with_the_policy_of_the_segment_it_matches(services):
    replace_policy(services.sessions, services.clock, account_id=ACCOUNT, document=POLICY,
                   author="test")
    label = classify_decline(DeclineInfo("card_declined", "insufficient_funds"), "visa")
    with services.sessions() as session:
        for months_ago in (2, 1):  # two earlier failures of the repeat customer
            open_case(session, f"in_old{months_ago}", customer="cus_repeat",
                      failed_at=FAILED - timedelta(days=30 * months_ago))
        cases = [open_case(session, "in_annual", amount=50000, interval=365),
                 open_case(session, "in_small_annual", amount=5000, interval=365),
                 open_case(session, "in_debit_fr", country="FR", funding="debit"),
                 open_case(session, "in_repeat", customer="cus_repeat"),
                 open_case(session, "in_plain")]
        Planner(services.clock).replan_many(
            session, [PlanRequest(case, label, new_decline=True) for case in cases])
        session.commit()
    retries = first_retries(services, cases)
    day = {invoice: (retry.due_at - FAILED.replace(hour=9)).days
           for invoice, retry in retries.items()}
    assert day == {"in_annual": 3, "in_small_annual": 1, "in_debit_fr": 5, "in_repeat": 2,
                   "in_plain": 1}
    assert retries["in_annual"].reason.startswith("retry 1 of 2")
    assert "[segment 'annual']" in retries["in_annual"].reason
    assert "[segment 'debit eu']" in retries["in_debit_fr"].reason
    # No segment: the account's schedule, and a reason that names none. The tenure is unknown
    # to the engine, so the "loyal" segment matches no case.
    assert retries["in_plain"].reason.startswith("retry 1 of 3")
    assert "segment" not in retries["in_plain"].reason
