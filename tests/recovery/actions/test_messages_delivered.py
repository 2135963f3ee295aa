"""A whole case's messages, rendered and sent over SMTP to a real (aiosmtpd) server: the sequence,
the unsubscribe headers, the links that work, and a crash between commit and delivery."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from models import Account, ActionKind, ActionStatus, Message, MessageStatus, ScheduledAction
from recovery.accounts.directory import ensure_default_account
from recovery.app import create_app
from recovery.runtime.settings import Settings
from recovery.wiring import build_services
from recovery.worker.jobs import ingest_inbox, resend_pending_messages, run_actions
from tests.conftest import WEBHOOK_SECRET
from tests.recovery.messaging.mail import RecordingHandler, smtp_server
from tests.recovery.stripe_stub import Decline
from tests.webhooks import payloads as p
from tests.webhooks.signing import signed_request

BASE_URL = "https://pay.example.com"
LINK = re.compile(r"https://pay\.example\.com/links/[a-z-]+\?t=[\w.%-]+")
DECLINES = [Decline("insufficient_funds")] * 12  # every retry fails: the whole sequence runs


@pytest.fixture
def mailbox():
    handler = RecordingHandler()
    controller = smtp_server(handler)
    yield handler, controller.port
    controller.stop()


@pytest.fixture
def mailing(database_url, tmp_path, clock, mailbox):
    handler, port = mailbox
    settings = Settings(
        database_url=database_url, stripe_webhook_secrets=WEBHOOK_SECRET,
        stripe_api_key="sk_test_engine_tests", run_worker=False, outbox_dir=tmp_path / "outbox",
        smtp_host="127.0.0.1", smtp_port=port, smtp_security="none",
        mail_from="Billing <billing@shop.example>", public_base_url=BASE_URL,
        link_secret="link-secret-for-tests-0123456789abcdef")
    services = build_services(settings, clock)
    ensure_default_account(services.sessions, settings, clock)
    yield services, handler
    services.close()


def deliver(client, services, payload: dict) -> None:
    body, headers = signed_request(payload, WEBHOOK_SECRET, services.clock.now())
    assert client.post("/webhooks/stripe", content=body, headers=headers).status_code == 200
    ingest_inbox(services)


def open_case(client, services) -> None:
    """The renewal's first charge fails: Stripe's event opens the case."""
    deliver(client, services, p.invoice_event("invoice.payment_failed", p.LATEST, attempt_count=1,
                                              created=services.clock.now()))


def run_case_to_its_end(services, limit: int = 80) -> None:
    """Step the clock to each due action (and pending message) until nothing is left."""
    for _ in range(limit):
        with services.sessions() as session:
            due = session.scalar(select(ScheduledAction.due_at).where(
                ScheduledAction.status == ActionStatus.scheduled.value)
                .order_by(ScheduledAction.due_at).limit(1))
        if due is None:
            return
        services.clock.set(max(due, services.clock.now()))
        run_actions(services)
        resend_pending_messages(services)
    raise AssertionError("the case did not end")


def parsed(received) -> email.message.EmailMessage:
    return email.message_from_bytes(received.content, policy=email.policy.default)


def rows(services) -> list[Message]:
    with services.sessions() as session:
        return list(session.exec(select(Message).order_by(Message.created_at, Message.id)))


# A sequence with a final notice, and the room to send it (the default stops at two unanswered).
WITH_FINAL_NOTICE = {"sequence": [{"kind": "payment_failed"}, {"kind": "reminder", "after_days": 7},
                                  {"kind": "final_notice", "before_end_days": 3}],
                     "max_unanswered": 3}


def set_policy(services, policy: dict) -> None:
    with services.sessions() as session:
        account = session.exec(select(Account)).one()
        account.policy = policy
        session.add(account)
        session.commit()


def test_a_whole_case_sends_its_sequence_over_smtp_with_unsubscribe_headers(mailing, stub):
    services, handler = mailing
    set_policy(services, {"communication": WITH_FINAL_NOTICE})
    stub.pay_results.extend(DECLINES)
    with TestClient(create_app(services, run_worker=False)) as client:
        open_case(client, services)
        run_case_to_its_end(services)
    sent = rows(services)
    # The failure notice at once, a reminder on day 7 and the final notice before the 28-day
    # window ends.
    assert [row.kind for row in sent] == ["payment_failed", "reminder", "final_notice"]
    assert all(row.status == MessageStatus.sent.value for row in sent)
    mails = [parsed(received) for received in handler.received]
    assert [mail["Message-ID"] for mail in mails] == [row.message_id for row in sent]
    for mail, row in zip(mails, sent, strict=True):
        assert mail["To"] == "jo@example.com"  # the customer's address, read from Stripe
        assert mail["From"] == "Billing <billing@shop.example>"
        assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert mail["List-Unsubscribe"] == f"<{row.unsubscribe_url}>"
        assert row.unsubscribe_url.startswith(f"{BASE_URL}/links/unsubscribe?t=")
        text = mail.get_body(("plain",)).get_content()
        html = mail.get_body(("html",)).get_content()
        assert "Jo Tester" in text and "$25.00" in text  # name from Stripe, amount per locale
        assert p.FINGERPRINT not in text + html and "pm_" not in text + html
    final = mails[-1].get_body(("plain",)).get_content()
    assert f"{BASE_URL}/links/update-card?t=" in final


def test_the_card_update_link_opens_a_new_billing_portal_session(mailing, stub):
    services, handler = mailing
    stub.pay_results.extend(DECLINES)
    with TestClient(create_app(services, run_worker=False)) as client:
        open_case(client, services)
        run_actions(services)
        text = parsed(handler.received[0]).get_body(("plain",)).get_content()
        (update,) = {url for url in LINK.findall(text) if "/links/update-card" in url}
        answer = client.get(update.removeprefix(BASE_URL), follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("https://billing.stripe.com/")
        (portal,) = [call for call in stub.calls if call.startswith("portal:")]
        form = parse_qs(portal.removeprefix("portal:"))
        assert form["customer"] == [p.CUSTOMER_ID]
        assert form["flow_data[type]"] == ["payment_method_update"]
        tampered = update.removeprefix(BASE_URL)[:-3] + "xyz"
        assert client.get(tampered, follow_redirects=False).status_code == 400


def test_the_final_notice_carries_the_accounts_offer_and_its_link_applies_it(mailing, stub):
    services, handler = mailing
    set_policy(services, {"communication": WITH_FINAL_NOTICE, "offers": {"rules": [
        {"kind": "discount", "percent_off": 25, "months": 3, "in_messages": ["final_notice"]}]}})
    stub.pay_results.extend(DECLINES)
    with TestClient(create_app(services, run_worker=False)) as client:
        open_case(client, services)
        for _ in range(40):
            run_actions(services)
            if any(row.kind == "final_notice" for row in rows(services)):
                break
            with services.sessions() as session:
                due = session.scalar(select(ScheduledAction.due_at).where(
                    ScheduledAction.status == ActionStatus.scheduled.value)
                    .order_by(ScheduledAction.due_at).limit(1))
            services.clock.set(max(due, services.clock.now()))
        final = parsed(handler.received[-1])
        assert final["Message-ID"] == rows(services)[-1].message_id
        text = final.get_body(("plain",)).get_content()
        assert "25%" in text and "3 months" in text
        (accept,) = {url for url in LINK.findall(text) if "/links/offer" in url}
        answer = client.get(accept.removeprefix(BASE_URL))
        assert answer.status_code == 200
        assert len(stub.coupons) == 1  # the discount went on through Stripe
        with services.sessions() as session:
            retries = session.exec(select(ScheduledAction).where(
                ScheduledAction.kind == ActionKind.retry.value,
                ScheduledAction.status == ActionStatus.scheduled.value)).all()
        assert retries, "accepting the discount schedules a retry of the open invoice"
        assert client.get(accept.removeprefix(BASE_URL)).status_code == 410  # single use


def test_a_crash_between_commit_and_smtp_delivery_resends_the_message_once(
        mailing, stub, monkeypatch):
    services, handler = mailing

    class WorkerKilled(BaseException):
        """The process dies after the message's row was committed, before SMTP."""

    def die(*args, **kwargs):
        raise WorkerKilled

    monkeypatch.setattr("recovery.actions.notify.deliver", die)
    with TestClient(create_app(services, run_worker=False)) as client:
        open_case(client, services)
    with pytest.raises(WorkerKilled):
        run_actions(services)
    monkeypatch.undo()
    (written,) = rows(services)
    assert written.status == MessageStatus.pending.value and handler.received == []
    resend_pending_messages(services)
    assert handler.received == []  # not due yet: its re-send time has not come
    services.clock.advance(timedelta(seconds=services.settings.message_resend_grace_seconds))
    resend_pending_messages(services)
    resend_pending_messages(services)
    (received,) = handler.received
    mail = parsed(received)
    assert mail["Message-ID"] == written.message_id
    assert mail.get_body(("plain",)).get_content().replace("\r\n", "\n") == \
        written.body_text.replace("\r\n", "\n")
    assert mail["List-Unsubscribe"] == f"<{written.unsubscribe_url}>"
    (after,) = rows(services)
    assert after.status == MessageStatus.sent.value
    assert urlsplit(written.unsubscribe_url).netloc == "pay.example.com"
