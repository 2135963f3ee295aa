"""Bad input never makes the receiver answer 500, and never costs a valid event its place.

Every body is really signed: these are what a holder of the secret (or Stripe, relaying a
customer's text) could send, checked on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import anyio
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError
from sqlmodel import select

from models import WebhookEvent
from recovery.app import create_app
from tests.conftest import WEBHOOK_SECRET
from tests.webhooks.signing import sign
from webhooks import inbox_writer as inbox_writer_module

URL = "/webhooks/stripe"


def event_body(event_id: str, invoice: str = '{"id": "in_1", "object": "invoice"}',
               data: str | None = None) -> str:
    """An event's JSON text, with the invoice (or the whole ``data``) spliced in verbatim."""
    data = data if data is not None else f'{{"object": {invoice}}}'
    return (f'{{"id": "{event_id}", "object": "event", "type": "invoice.payment_failed", '
            f'"api_version": "2026-10-28.endive", "created": 1793973600, "livemode": false, '
            f'"data": {data}}}')


@pytest.fixture
def client(services):
    # raise_server_exceptions: a crash in the app fails the test instead of hiding behind a 500.
    with TestClient(create_app(services, run_worker=False)) as test_client:
        yield test_client


def post_signed(client, clock, body: str):
    headers = {"Stripe-Signature": sign(body, WEBHOOK_SECRET, clock.now()),
               "Content-Type": "application/json"}
    return client.post(URL, content=body.encode("utf-8"), headers=headers)


def stored(services) -> dict[str, dict]:
    with services.sessions() as session:
        return {r.stripe_event_id: r.payload for r in session.exec(select(WebhookEvent))}


def strings_in(document) -> list[str]:
    """Every string in a decoded JSON document, keys included."""
    if isinstance(document, str):
        return [document]
    if isinstance(document, dict):
        return [s for k, v in document.items() for s in [k, *strings_in(v)]]
    if isinstance(document, list):
        return [s for item in document for s in strings_in(item)]
    return []


HUGE_INTEGER = "9" * 4301  # one digit over Python's default int_max_str_digits
REFUSED = {
    "integer over the digit limit": event_body("evt_r1", f'{{"id": "in_1", "amount_due": '
                                                        f'{HUGE_INTEGER}}}'),
    "data is a string": event_body("evt_r2", data='"x"'),
    "data is a list": event_body("evt_r3", data="[1, 2]"),
    "NaN": event_body("evt_r4", '{"id": "in_1", "amount_due": NaN}'),
    "Infinity": event_body("evt_r5", '{"id": "in_1", "amount_due": Infinity}'),
    "-Infinity": event_body("evt_r6", '{"id": "in_1", "amount_due": -Infinity}'),
    "a float that overflows to infinity": event_body("evt_r7", '{"id": "in_1", "total": 1e400}'),
    "nesting no Stripe object has": event_body(
        "evt_r8", '{"id": "in_1", "lines": ' + "[" * 200 + "]" * 200 + "}"),
    "a raw NUL byte in a string": event_body("evt_r9", '{"id": "in_\x00"}'),
}


@pytest.mark.parametrize("case", REFUSED)
def test_unstorable_input_is_a_clear_400_and_the_next_event_is_still_stored(
        client, services, clock, case):
    response = post_signed(client, clock, REFUSED[case])
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] in ("not_json", "not_an_event") and error["message"]
    assert stored(services) == {}
    assert post_signed(client, clock, event_body("evt_valid")).status_code == 200
    assert list(stored(services)) == ["evt_valid"]


KEPT = {
    # Stripe relays text customers typed (names, descriptions, metadata): it may hold \u0000.
    "NUL in a description": ('{"id": "in_1", "description": "Pro plan\\u0000"}', "evt_k1"),
    "NUL in a metadata key and value": (
        '{"id": "in_1", "metadata": {"note\\u0000": "a\\u0000b", "list": ["\\u0000"]}}', "evt_k2"),
    "a lone surrogate": ('{"id": "in_1", "description": "caf\\ud800e"}', "evt_k3"),
    "NUL in the event id": ('{"id": "in_1"}', "evt_k4\\u0000"),
}


@pytest.mark.parametrize("case", KEPT)
def test_text_a_database_cannot_hold_is_stored_with_a_replacement_character(
        client, services, clock, case):
    invoice, event_id = KEPT[case]
    response = post_signed(client, clock, event_body(event_id, invoice))
    assert response.status_code == 200
    ((stored_id, payload),) = stored(services).items()
    text = "".join(strings_in(payload)) + stored_id
    assert "\x00" not in text and "\ud800" not in text
    assert "\ufffd" in text
    # The rest of the event is kept as sent.
    assert payload["data"]["object"]["id"] == "in_1"
    assert payload["type"] == "invoice.payment_failed"


async def _post_then_disconnect(app, body: bytes) -> list[dict]:
    """Drive the ASGI app as a server would when the client goes away mid-body."""
    incoming = [
        {"type": "http.request", "body": body[: len(body) // 2], "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict] = []

    async def receive() -> dict:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": URL, "raw_path": URL.encode(),
             "query_string": b"", "root_path": "", "server": ("testserver", 80),
             "client": ("127.0.0.1", 5000),
             "headers": [(b"content-type", b"application/json"),
                         (b"content-length", str(len(body)).encode())]}
    await app(scope, receive, send)
    return sent


def test_a_client_that_disconnects_mid_body_gets_an_answer_not_a_crash(client, services, clock):
    body = event_body("evt_cut").encode()
    sent = anyio.run(_post_then_disconnect, client.app, body)
    start = next(message for message in sent if message["type"] == "http.response.start")
    assert start["status"] == 400
    assert client.app.state.receiver_stats.snapshot() == {"rejected:incomplete_body": 1}
    assert stored(services) == {}
    assert post_signed(client, clock, event_body("evt_cut")).status_code == 200


def test_a_database_error_storing_a_verified_event_is_a_503_for_stripe_to_retry(
        client, services, clock, monkeypatch):
    def unreachable(*_args):
        raise OperationalError("INSERT INTO webhook_event", {}, ConnectionError("server closed"))

    monkeypatch.setattr(inbox_writer_module, "store_rows", unreachable)
    response = post_signed(client, clock, event_body("evt_later"))
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "unavailable"
    monkeypatch.undo()
    assert post_signed(client, clock, event_body("evt_later")).status_code == 200
    assert list(stored(services)) == ["evt_later"]
