"""What segment rules know about the cases being planned (``rules.segments.CaseFacts``), read for
a whole planning batch in a few queries.

The card's country and funding come from the latest attempt on the invoice that reported them;
the earlier failures are the customer's cases that failed first. The tenure is left unknown: the
engine does not store when a customer signed up, so a tenure condition matches no case here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlmodel import Session, select

from models import ChargeAttempt, RecoveryCase
from recovery.engine.case_store import IN_LIST_CHUNK
from recovery.rules.segments import CaseFacts


def case_facts(session: Session, cases: Sequence[RecoveryCase]) -> dict[int, CaseFacts]:
    """Each case's facts, by case id (its decline class: the latest the case recorded)."""
    cards = _latest_cards(session, [case.id for case in cases])
    earlier = _earlier_failures(session, cases)
    return {case.id: CaseFacts(
        amount=case.amount_due, currency=case.currency,
        plan_interval_days=case.plan_interval_days,
        card_country=cards.get(case.id, (None, None))[0],
        card_funding=cards.get(case.id, (None, None))[1],
        decline_class=case.last_decline_class,
        earlier_failures=earlier.get(case.id, 0)) for case in cases}


def _latest_cards(session: Session, case_ids: list[int]) -> dict[int, tuple[str | None, ...]]:
    cards: dict[int, tuple[str | None, ...]] = {}
    for start in range(0, len(case_ids), IN_LIST_CHUNK):
        rows = session.execute(
            select(ChargeAttempt.case_id, ChargeAttempt.card_country, ChargeAttempt.card_funding)
            .where(ChargeAttempt.case_id.in_(case_ids[start:start + IN_LIST_CHUNK]),
                   (ChargeAttempt.card_country.is_not(None))
                   | (ChargeAttempt.card_funding.is_not(None)))
            .order_by(ChargeAttempt.attempted_at, ChargeAttempt.id))
        for row in rows:  # in time order: the latest one stays
            cards[row.case_id] = (row.card_country, row.card_funding)
    return cards


def _earlier_failures(session: Session, cases: Sequence[RecoveryCase]) -> dict[int, int]:
    customers: dict[str, set[str]] = defaultdict(set)
    for case in cases:
        if case.stripe_customer_id:
            customers[case.account_id].add(case.stripe_customer_id)
    failed_at: dict[tuple[str, str], list] = defaultdict(list)
    for account_id, ids in customers.items():
        ordered = sorted(ids)
        for start in range(0, len(ordered), IN_LIST_CHUNK):
            rows = session.execute(
                select(RecoveryCase.id, RecoveryCase.stripe_customer_id,
                       RecoveryCase.first_failed_at)
                .where(RecoveryCase.account_id == account_id,
                       RecoveryCase.stripe_customer_id.in_(ordered[start:start + IN_LIST_CHUNK])))
            for row in rows:
                failed_at[(account_id, row.stripe_customer_id)].append(
                    (row.first_failed_at, row.id))
    return {case.id: sum(1 for at, other in failed_at[(case.account_id, case.stripe_customer_id)]
                         if other != case.id and at < case.first_failed_at)
            for case in cases if case.stripe_customer_id}
