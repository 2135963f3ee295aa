"""The receiver authenticates before anything else: no database work for an unsigned request,
one answer for every failure (no oracle telling a wrong secret from an account we do not
serve), and a signature tolerance that is bounded and configurable."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy import insert
from sqlmodel import select

from models import Account, WebhookEvent
from recovery.app import create_app
from recovery.runtime.settings import Settings
from recovery.wiring import build_services
from tests.conftest import WEBHOOK_SECRET
from tests.webhooks.signing import signed_request
from webhooks.router import StripeWebhookEndpoint

URL = "/webhooks/stripe"
CONNECTED = "acct_1ConnectedSeller"
CONNECTED_SECRET = "whsec_connected_seller_secret_42"


def event(event_id: str = "evt_auth_1", **extra) -> dict:
    return {"id": event_id, "object": "event", "type": "invoice.payment_failed",
            "api_version": "2026-10-28.endive", "created": 1793973600, "livemode": False,
            "data": {"object": {"id": "in_1", "object": "invoice"}}, **extra}


@pytest.fixture
def client(services):
    # A Connect account with its own signing secret, there before the app starts (as it would
    # be in a deployment). Stored in plain text, as rows written before encryption were.
    with services.sessions() as session:
        session.execute(insert(Account).values(
            id="acct_seller", name="seller", stripe_account_id=CONNECTED,
            webhook_secrets=CONNECTED_SECRET, created_at=services.clock.now()))
        session.commit()
    with TestClient(create_app(services, run_worker=False)) as test_client:
        yield test_client


def post(client, payload: dict, secret: str, at) -> object:
    body, headers = signed_request(payload, secret, at)
    return client.post(URL, content=body, headers=headers)


def stored(services) -> list[str]:
    with services.sessions() as session:
        return [row.account_id for row in session.exec(select(WebhookEvent))]


@pytest.fixture
def statements(services):
    """Every SQL statement the engine's database sees while the test runs."""
    seen: list[str] = []

    def record(_connection, _cursor, statement, *_args):
        seen.append(statement)

    sqlalchemy_event.listen(services.db_engine, "before_cursor_execute", record)
    yield seen
    sqlalchemy_event.remove(services.db_engine, "before_cursor_execute", record)


UNAUTHENTIC = {
    "default account, wrong secret": (event(), "whsec_not_ours_at_all_000"),
    "connected account, wrong secret": (event(account=CONNECTED), "whsec_not_ours_at_all_000"),
    "connected account, its default's secret": (event(account=CONNECTED), WEBHOOK_SECRET),
    "unknown account, a valid secret": (event(account="acct_nobody"), WEBHOOK_SECRET),
    "unknown account, its own secret": (event(account="acct_nobody"), "whsec_nobody_secret_1"),
}


@pytest.mark.parametrize("case", UNAUTHENTIC)
def test_an_unauthentic_request_does_no_database_work(client, services, clock, statements,
                                                      case):
    payload, secret = UNAUTHENTIC[case]
    response = post(client, payload, secret, clock.now())
    assert response.status_code == 400
    assert statements == []
    assert stored(services) == []


def test_a_missing_signature_does_no_database_work(client, services, statements):
    body = json.dumps(event(account=CONNECTED))
    assert client.post(URL, content=body).status_code == 400
    assert statements == []


def test_unknown_account_and_bad_signature_get_one_identical_answer(client, services, clock):
    answers = {case: post(client, *UNAUTHENTIC[case], clock.now()) for case in UNAUTHENTIC}
    answers["stale"] = post(client, event(account=CONNECTED), CONNECTED_SECRET,
                            clock.now() - timedelta(seconds=301))
    bodies = {(answer.status_code, answer.content) for answer in answers.values()}
    assert bodies == {(400, b'{"error":{"code":"invalid_signature",'
                            b'"message":"signature verification failed"}}')}
    # /healthz shows the receiver's counters: they must not tell the cases apart either.
    assert client.app.state.receiver_stats.snapshot() == {"rejected:invalid_signature": 6}


def test_a_signed_event_of_a_connected_account_is_stored_for_it(client, services, clock):
    assert post(client, event(account=CONNECTED), CONNECTED_SECRET, clock.now()).status_code == 200
    assert stored(services) == ["acct_seller"]


@pytest.mark.parametrize("seconds", [0, -5, 601, 3600])
def test_a_tolerance_outside_one_to_six_hundred_seconds_is_refused_at_start_up(
        monkeypatch, seconds):
    monkeypatch.setenv("RECOVERY_WEBHOOK_TOLERANCE_SECONDS", str(seconds))
    with pytest.raises(ValidationError, match="webhook_tolerance_seconds"):
        Settings()
    with pytest.raises(ValueError, match="tolerance"):
        StripeWebhookEndpoint(lambda: None, lambda _a: (), lambda _p: None, None,
                              tolerance_seconds=seconds)


def test_the_configured_tolerance_is_the_one_applied(settings, clock):
    settings.webhook_tolerance_seconds = 30
    services = build_services(settings, clock)
    with TestClient(create_app(services, run_worker=False)) as client:
        old = clock.now() - timedelta(seconds=31)
        assert post(client, event("evt_old"), WEBHOOK_SECRET, old).status_code == 400
        recent = clock.now() - timedelta(seconds=29)
        assert post(client, event("evt_recent"), WEBHOOK_SECRET, recent).status_code == 200
    services.close()
    assert Settings(webhook_tolerance_seconds=600).webhook_tolerance_seconds == 600
