"""The webhook receiver: signatures, duplicates, bad bodies, thin events, concurrency."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from models import InboxStatus, WebhookEvent
from recovery.app import create_app
from tests.conftest import WEBHOOK_SECRET
from tests.webhooks.signing import sign, signed_request

URL = "/webhooks/stripe"


def event(event_id: str = "evt_1", event_type: str = "invoice.payment_failed", **extra) -> dict:
    return {
        "id": event_id, "object": "event", "type": event_type, "api_version": "2026-10-28.endive",
        "created": 1793973600, "livemode": False, "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "data": {"object": {"id": "in_1", "object": "invoice"}}, **extra,
    }


@pytest.fixture
def client(services):
    with TestClient(create_app(services, run_worker=False)) as test_client:
        yield test_client


def stored(services) -> list[WebhookEvent]:
    with services.sessions() as session:
        return list(session.exec(select(WebhookEvent)))


def post(client, payload: dict, secret: str, at) -> object:
    body, headers = signed_request(payload, secret, at)
    return client.post(URL, content=body, headers=headers)


def test_valid_signature_stores_the_event_with_its_metadata(client, services, clock):
    response = post(client, event(), WEBHOOK_SECRET, clock.now())
    assert response.status_code == 200
    (row,) = stored(services)
    assert (row.stripe_event_id, row.type, row.api_version) == (
        "evt_1", "invoice.payment_failed", "2026-10-28.endive")
    assert row.status == InboxStatus.pending
    assert row.livemode is False
    assert row.created_at.timestamp() == 1793973600
    assert row.received_at == clock.now()
    assert row.payload["data"]["object"]["id"] == "in_1"


def test_wrong_secret_is_rejected_and_nothing_stored(client, services, clock):
    response = post(client, event(), "whsec_someone_else_entirely", clock.now())
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_signature"
    assert stored(services) == []
    assert client.app.state.receiver_stats.snapshot()["rejected:invalid_signature"] == 1


def test_tampered_body_is_rejected(client, services, clock):
    body, headers = signed_request(event(), WEBHOOK_SECRET, clock.now())
    response = client.post(URL, content=body.replace("in_1", "in_2"), headers=headers)
    assert response.status_code == 400
    assert stored(services) == []


def test_stale_timestamp_is_rejected_and_the_log_says_why(client, services, clock, caplog):
    response = post(client, event(), WEBHOOK_SECRET, clock.now() - timedelta(seconds=301))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_signature"
    assert stored(services) == []
    assert [r.reason for r in caplog.records if r.name == "webhooks.receiver"] == [
        "stale_timestamp"]


def test_timestamp_within_tolerance_is_accepted(client, services, clock):
    response = post(client, event(), WEBHOOK_SECRET, clock.now() - timedelta(seconds=299))
    assert response.status_code == 200


@pytest.mark.parametrize("header", [None, "", "garbage", "t=abc,v1=00", "t=1793973600"])
def test_missing_or_malformed_header_is_rejected(client, services, header):
    headers = {} if header is None else {"Stripe-Signature": header}
    response = client.post(URL, content=json.dumps(event()), headers=headers)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_signature"
    assert stored(services) == []


def test_rotated_secrets_any_configured_secret_and_any_v1_match(settings, clock):
    from recovery.wiring import build_services

    settings.stripe_webhook_secrets = type(settings.stripe_webhook_secrets)(
        "whsec_new_secret_abcdef, whsec_old_secret_abcdef")
    services = build_services(settings, clock)
    with TestClient(create_app(services, run_worker=False)) as client:
        now = clock.now()
        assert post(client, event("evt_old"), "whsec_old_secret_abcdef", now).status_code == 200
        assert post(client, event("evt_new"), "whsec_new_secret_abcdef", now).status_code == 200
        # Stripe sends one v1 per active secret while an endpoint's secret is being rolled.
        body = json.dumps(event("evt_both"))
        old = sign(body, "whsec_unknown_secret_xyz", clock.now())
        new = sign(body, "whsec_new_secret_abcdef", clock.now())
        header = old + "," + new.split(",", 1)[1]
        response = client.post(URL, content=body, headers={"Stripe-Signature": header})
        assert response.status_code == 200
        assert post(client, event("evt_x"), "whsec_retired_secret", clock.now()).status_code == 400
    assert sorted(r.stripe_event_id for r in stored(services)) == ["evt_both", "evt_new", "evt_old"]
    services.close()


def test_same_event_twice_is_stored_once(client, services, clock):
    first = post(client, event(), WEBHOOK_SECRET, clock.now())
    second = post(client, event(), WEBHOOK_SECRET, clock.now())
    assert (first.json()["duplicate"], second.json()["duplicate"]) == (False, True)
    assert second.status_code == 200
    assert len(stored(services)) == 1


def test_fifty_concurrent_deliveries_of_one_event_store_one_row(client, services, clock):
    body, headers = signed_request(event("evt_race"), WEBHOOK_SECRET, clock.now())
    with ThreadPoolExecutor(max_workers=16) as pool:
        responses = list(pool.map(lambda _: client.post(URL, content=body, headers=headers),
                                  range(50)))
    assert {r.status_code for r in responses} == {200}
    assert sum(not r.json()["duplicate"] for r in responses) == 1
    assert len(stored(services)) == 1


def test_oversized_body_is_413(client, services, clock):
    payload = event()
    payload["data"]["object"]["padding"] = "x" * (1024 * 1024)
    response = post(client, payload, WEBHOOK_SECRET, clock.now())
    assert response.status_code == 413
    assert stored(services) == []


@pytest.mark.parametrize("body", ["{not json", "\xff\xfe", "[1, 2]", '"event"',
                                  json.dumps({"object": "invoice", "id": "in_1"}),
                                  json.dumps({"object": "event", "type": "x", "created": 1})])
def test_malformed_and_non_event_bodies_are_400(client, services, clock, body):
    headers = {"Stripe-Signature": sign(body, WEBHOOK_SECRET, clock.now())}
    response = client.post(URL, content=body.encode("utf-8", "surrogateescape"), headers=headers)
    assert response.status_code == 400
    assert response.json()["error"]["code"] in ("not_json", "not_an_event")
    assert stored(services) == []


def test_thin_event_is_stored_for_fetching(client, services, clock):
    thin = {
        "id": "evt_thin_1", "object": "v2.core.event", "type": "v1.invoice.payment_failed",
        "created": "2026-11-02T14:00:00.000Z", "livemode": False,
        "related_object": {"id": "in_9", "type": "invoice", "url": "/v1/invoices/in_9"},
    }
    assert post(client, thin, WEBHOOK_SECRET, clock.now()).status_code == 200
    (row,) = stored(services)
    assert row.thin and row.status == InboxStatus.needs_fetch
    assert (row.related_object_id, row.related_object_type) == ("in_9", "invoice")


def test_connect_event_for_an_unknown_account_is_rejected(client, services, clock):
    response = post(client, event(account="acct_nobody"), WEBHOOK_SECRET, clock.now())
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_signature"


def test_the_documented_route_answers_as_the_receiver_served_before_routing(services, clock):
    """The app serves the receiver ahead of routing; the FastAPI route that documents it (and
    serves it in an app without that middleware) must give the same answers, byte for byte."""
    from fastapi import FastAPI  # noqa: PLC0415 - only this test builds a bare app

    from webhooks.inbox_writer import InboxWriter  # noqa: PLC0415
    from webhooks.router import StripeWebhookEndpoint, build_router  # noqa: PLC0415

    full = create_app(services, run_worker=False)
    assert URL in full.openapi()["paths"]
    writer = InboxWriter(services.sessions, clock)
    endpoint = StripeWebhookEndpoint(
        services.sessions, services.accounts.secrets_for, services.accounts.resolve_account,
        clock, writer=writer)
    bare = FastAPI()
    bare.include_router(build_router(endpoint))
    with TestClient(full) as served, TestClient(bare) as routed:
        services.accounts.refresh()
        answers = []
        for test_client, event_id in ((served, "evt_a"), (routed, "evt_b")):
            fresh = post(test_client, event(event_id), WEBHOOK_SECRET, clock.now())
            again = post(test_client, event(event_id), WEBHOOK_SECRET, clock.now())
            refused = post(test_client, event(event_id), "whsec_not_ours", clock.now())
            answers.append([(r.status_code, r.headers["content-type"], r.content)
                            for r in (fresh, again, refused)])
    writer.stop()
    assert answers[0] == answers[1]
    assert [status for status, _, _ in answers[0]] == [200, 200, 400]
    assert answers[0][1][2] == b'{"received":true,"duplicate":true}'
    assert {row.stripe_event_id for row in stored(services)} == {"evt_a", "evt_b"}
