"""A few cases for the dashboard's tests: an open one with a smart retry's explanation, a message
and an offer; a recovered one; an exhausted one; and one case of a second account."""

from __future__ import annotations

from datetime import timedelta

from models import (
    Account,
    ChargeAttempt,
    Message,
    Offer,
    RecoveryCase,
    ScheduledAction,
)
from recovery.engine.case_tallies import recount
from recovery.runtime.db import transaction

OTHER_ACCOUNT = "acct_other"
OPEN_INVOICE = "in_open_visa"
RECOVERED_INVOICE = "in_recovered_mc"
EXHAUSTED_INVOICE = "in_exhausted_visa"
OTHER_INVOICE = "in_other_account"
EXPLANATION = {
    "source": "account scorer v3", "chosen_chance": 0.31, "hours_after_now": 26.0,
    "best_chance": 0.33, "best_at": "2026-11-04T09:00:00+00:00", "fixed_chance": 0.22,
    "fixed_at": "2026-11-03T09:00:00+00:00", "candidates": 120,
    "quantiles": {"p10": 0.1, "p50": 0.2, "p90": 0.3}, "explored": False, "safe_set": 4,
    "propensity": 0.925, "contributions": [["hour_of_day", 0.042], ["days_to_payday", -0.013]],
}


def seed_cases(services) -> None:
    account_id, now = services.settings.account_id, services.clock.now()
    day = timedelta(days=1)
    with transaction(services.sessions) as session:
        if session.get(Account, OTHER_ACCOUNT) is None:
            session.add(Account(id=OTHER_ACCOUNT, name="other", created_at=now))
            session.flush()
        open_case = _case(session, account_id, OPEN_INVOICE, now - 2 * day, brand="visa",
                          decline_class="retry", amount=4200)
        _attempt(session, open_case, now - 2 * day, "insufficient_funds", "visa", "US")
        session.add(ScheduledAction(
            account_id=account_id, case_id=open_case.id, kind="retry", due_at=now + day,
            reason="smart: chance 31% (best 33%); account scorer v3",
            params={"decision": {"explanation": EXPLANATION}}, created_at=now))
        session.add(Message(account_id=account_id, case_id=open_case.id, message_id="msg_1",
                            kind="payment_failed", subject="Your payment did not go through",
                            status="sent", created_at=now - day, sent_at=now - day))
        session.add(Offer(account_id=account_id, case_id=open_case.id, kind="discount",
                          percent_off=10, months=2, message_kind="reminder",
                          shown_at=now - day, amount=4200))
        recovered = _case(session, account_id, RECOVERED_INVOICE, now - 5 * day,
                          brand="mastercard", decline_class="retry", amount=10000,
                          status="recovered", closed_at=now - 2 * day)
        _attempt(session, recovered, now - 5 * day, "do_not_honor", "mastercard", "FR")
        exhausted = _case(session, account_id, EXHAUSTED_INVOICE, now - 10 * day, brand="visa",
                          decline_class="stop", amount=2000, status="exhausted",
                          closed_at=now - day)
        _attempt(session, exhausted, now - 10 * day, "stolen_card", "visa", "US")
        other = _case(session, OTHER_ACCOUNT, OTHER_INVOICE, now - day, brand="amex",
                      decline_class="retry", amount=999)
        session.flush()
        for case in (open_case, recovered, exhausted, other):
            recount(session, case)  # the tallies the engine keeps as it records them


def _case(session, account_id, invoice, failed_at, *, brand, decline_class, amount,
          status="open", closed_at=None) -> RecoveryCase:
    case = RecoveryCase(account_id=account_id, stripe_invoice_id=invoice,
                        stripe_customer_id=f"cus_{invoice}", amount_due=amount, currency="usd",
                        status=status, waiting_for="retry" if status == "open" else "nothing",
                        recovered_by="retry" if status == "recovered" else None,
                        card_brand=brand, last_decline_class=decline_class,
                        last_reason=f"next step for {invoice}", first_failed_at=failed_at,
                        closed_at=closed_at, created_at=failed_at, updated_at=failed_at)
    session.add(case)
    session.flush()
    return case


def _attempt(session, case, at, code, brand, country) -> None:
    session.add(ChargeAttempt(account_id=case.account_id, case_id=case.id,
                              stripe_invoice_id=case.stripe_invoice_id,
                              stripe_charge_id=f"ch_{case.stripe_invoice_id}", attempted_at=at,
                              decline_code=code, card_brand=brand, card_country=country,
                              card_fingerprint=f"fp_{brand}", decline_class=case.last_decline_class,
                              reason=f"{code}: classified", created_at=at))
    if case.status == "recovered":
        session.add(ChargeAttempt(account_id=case.account_id, case_id=case.id,
                                  stripe_invoice_id=case.stripe_invoice_id,
                                  stripe_charge_id=f"ch_{case.stripe_invoice_id}_paid",
                                  attempted_at=case.closed_at, by="engine", succeeded=True,
                                  card_brand=brand, card_country=country, created_at=at))
