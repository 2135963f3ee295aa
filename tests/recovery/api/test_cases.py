"""``/v1/cases``: the account's cases filtered, searched and paged, and one case's timeline
(attempts with their declines, messages, offers, actions with reasons and the scorer's
explanation); another account's cases are invisible and answer 404."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from models import ChargeAttempt, Message, Offer, RecoveryCase, ScheduledAction
from tests.recovery.api.conftest import OTHER_ACCOUNT

DAY = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
EXPLANATION = {"source": "cold start prior", "chosen_chance": 0.31}


def add_case(session, account_id: str, invoice: str, *, day: int, status: str = "open",
             waiting_for: str = "retry", decline_class: str | None = "retry",
             customer: str = "cus_a") -> RecoveryCase:
    at = DAY + timedelta(days=day)
    case = RecoveryCase(account_id=account_id, stripe_invoice_id=invoice,
                        stripe_customer_id=customer, amount_due=2900, status=status,
                        waiting_for=waiting_for, last_decline_class=decline_class,
                        first_failed_at=at, created_at=at, updated_at=at)
    session.add(case)
    session.flush()
    return case


def add_story(session, case: RecoveryCase) -> None:
    """A decline, a retry timed by the scorer, a failure notice carrying an offer."""
    at = case.first_failed_at
    session.add(ChargeAttempt(
        account_id=case.account_id, case_id=case.id, stripe_invoice_id=case.stripe_invoice_id,
        attempted_at=at, card_brand="visa", card_country="FR", card_funding="debit",
        failure_code="card_declined", decline_code="insufficient_funds", decline_class="retry",
        reason="insufficient funds", amount=2900, created_at=at))
    session.add(ScheduledAction(
        account_id=case.account_id, case_id=case.id, kind="retry", due_at=at + timedelta(days=2),
        reason="retry 1 of 5, day 3, 09:00 local: insufficient_funds",
        params={"payment_method": "pm_1", "decision": {"propensity": 0.9,
                                                       "scorer_version": "smart-3",
                                                       "explanation": EXPLANATION}},
        created_at=at))
    session.add(ScheduledAction(
        account_id=case.account_id, case_id=case.id, kind="notify", due_at=at, status="done",
        reason="tell the customer the payment failed", params={"template": "payment_failed"},
        created_at=at, finished_at=at))
    session.add(Message(
        account_id=case.account_id, case_id=case.id, message_id=f"<{case.id}@test>",
        kind="payment_failed", subject="Your payment failed", to_address="a@b.example",
        body_text="Update your card: https://example.invalid/u/secret-token", status="sent",
        created_at=at, sent_at=at + timedelta(minutes=1)))
    session.add(Offer(account_id=case.account_id, case_id=case.id, kind="discount",
                      percent_off=20, months=2, message_kind="payment_failed", shown_at=at,
                      amount=2900))


def seed(services) -> None:
    with services.sessions() as session:
        owner = services.settings.account_id
        add_story(session, add_case(session, owner, "in_alpha_001", day=0))
        add_case(session, owner, "in_BETA_002", day=1, status="recovered", waiting_for="nothing",
                 customer="cus_b")
        add_case(session, owner, "in_gamma_003", day=2, waiting_for="new_card",
                 decline_class="new_payment_method")
        add_case(session, owner, "in_100%_004", day=3)
        add_story(session, add_case(session, OTHER_ACCOUNT, "in_other_001", day=0))
        session.commit()


def invoices(api, headers, **params) -> list[str]:
    answer = api.get("/v1/cases", headers=headers, params=params)
    assert answer.status_code == 200, answer.text
    return [case["invoice_id"] for case in answer.json()["cases"]]


def test_filters_and_search(api, tokens, services):
    seed(services)
    reader = tokens.reader
    assert invoices(api, reader) == ["in_100%_004", "in_gamma_003", "in_BETA_002",
                                     "in_alpha_001"]
    assert invoices(api, reader, status="recovered") == ["in_BETA_002"]
    assert invoices(api, reader, waiting_for="new_card") == ["in_gamma_003"]
    assert invoices(api, reader, decline_class="new_payment_method") == ["in_gamma_003"]
    assert invoices(api, reader, customer_id="cus_b") == ["in_BETA_002"]
    assert invoices(api, reader, q="beta") == ["in_BETA_002"]  # any case
    assert invoices(api, reader, q="100%") == ["in_100%_004"]  # % is a character, no wildcard
    assert invoices(api, reader, q="mm_") == []  # nor is _
    assert invoices(api, reader, first_failed_from="2026-10-02T12:00:00Z",
                    first_failed_to="2026-10-04T12:00:00") == ["in_gamma_003", "in_BETA_002"]
    for bad in ({"status": "lost"}, {"decline_class": "maybe"}, {"limit": 201},
                {"limit": 0}, {"first_failed_from": "yesterday"}):
        assert api.get("/v1/cases", headers=reader, params=bad).status_code == 422


def test_pages_follow_the_cursor_to_the_end(api, tokens, services):
    seed(services)
    seen, cursor = [], None
    for _ in range(3):
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = api.get("/v1/cases", headers=tokens.reader, params=params).json()
        seen += [case["invoice_id"] for case in page["cases"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == invoices(api, tokens.reader) and len(seen) == 4 and cursor is None


def test_one_case_with_its_timeline(api, tokens, services):
    seed(services)
    case = api.get("/v1/cases/in_alpha_001", headers=tokens.reader).json()
    assert (case["status"], case["amount_due"], case["customer_id"]) == ("open", 2900, "cus_a")
    (attempt,) = case["attempts"]
    assert (attempt["decline_code"], attempt["decline_class"], attempt["card_country"]) == (
        "insufficient_funds", "retry", "FR")
    (message,) = case["messages"]
    assert (message["kind"], message["channel"], message["status"]) == (
        "payment_failed", "email", "sent")
    assert message["sent_at"] and "body_text" not in message and "to_address" not in message
    assert "secret-token" not in str(case)  # a message's signed links stay out
    assert case["offers"][0]["percent_off"] == 20
    retry = next(a for a in case["actions"] if a["kind"] == "retry")
    assert retry["reason"].startswith("retry 1 of 5")
    assert retry["decision"]["explanation"] == EXPLANATION
    assert retry["decision"]["scorer_version"] == "smart-3"
    assert next(a for a in case["actions"] if a["kind"] == "notify")["template"] == \
        "payment_failed"
    what = [entry["what"] for entry in case["timeline"]]
    assert what[0] == "charge by stripe" and what[-1] == "retry [scheduled]"
    assert "message payment_failed by email [sent]" in what
    assert "offer discount [shown]" in what
    assert case["timeline"][-1]["explanation"] == EXPLANATION


def test_another_accounts_token_sees_none_of_the_cases(api, tokens, services):
    seed(services)
    assert invoices(api, tokens.other) == ["in_other_001"]
    assert api.get("/v1/cases/in_alpha_001", headers=tokens.other).status_code == 404
    assert api.get("/v1/cases/in_other_001", headers=tokens.owner).status_code == 404
    assert "in_other_001" not in invoices(api, tokens.owner, q="other")
    assert api.get("/v1/cases/in_missing", headers=tokens.owner).status_code == 404
    assert api.get("/v1/cases").status_code == 401
