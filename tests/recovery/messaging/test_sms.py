"""The SMS channel posts to a Twilio-compatible Messages API, only for opted-in customers."""

from __future__ import annotations

from urllib.parse import parse_qs

import httpx
import pytest
import respx

from recovery.errors import DeliveryRejected, DeliveryUnavailable
from recovery.messaging.preferences import ContactPreferences
from recovery.messaging.sms import SmsChannel
from tests.recovery.messaging.mail import outgoing

MESSAGES_URL = "https://sms.example.test/2010-04-01/Accounts/AC123/Messages.json"
OPTED_IN = ContactPreferences(sms_opt_in=True, phone="+4915112345678")


def channel(client: httpx.Client, preferences=OPTED_IN) -> SmsChannel:
    return SmsChannel("https://sms.example.test/", "AC123", "token-xyz", "+15005550006", client,
                      preferences=lambda account_id, customer_id: preferences)


@respx.mock(assert_all_called=True)
def test_an_opted_in_customer_gets_the_text_at_their_phone(respx_mock):
    route = respx_mock.post(MESSAGES_URL).respond(201, json={"sid": "SM1"})
    with httpx.Client() as client:
        channel(client).deliver(outgoing(channel="sms", text="Your card needs an update"))
    request = route.calls.last.request
    assert parse_qs(request.content.decode()) == {
        "To": ["+4915112345678"], "From": ["+15005550006"], "Body": ["Your card needs an update"]}
    assert request.headers["Authorization"] == httpx.BasicAuth("AC123", "token-xyz")._auth_header


@pytest.mark.parametrize("preferences", [
    ContactPreferences(), ContactPreferences(sms_opt_in=True, phone=None),
    ContactPreferences(sms_opt_in=False, phone="+4915112345678")])
@respx.mock
def test_no_opt_in_or_no_phone_sends_nothing(respx_mock, preferences):
    route = respx_mock.post(MESSAGES_URL).respond(201)
    with httpx.Client() as client, pytest.raises(DeliveryRejected, match="opted in"):
        channel(client, preferences).deliver(outgoing(channel="sms"))
    assert not route.called


@pytest.mark.parametrize(("status", "error"), [
    (429, DeliveryUnavailable), (500, DeliveryUnavailable), (503, DeliveryUnavailable),
    (400, DeliveryRejected), (404, DeliveryRejected),
])
@respx.mock
def test_answers_raise_by_their_kind(respx_mock, status, error):
    respx_mock.post(MESSAGES_URL).respond(status, json={"code": 21211, "message": "Bad To"})
    with httpx.Client() as client, pytest.raises(error, match=str(status)):
        channel(client).deliver(outgoing(channel="sms"))


@respx.mock
def test_a_network_failure_is_transient(respx_mock):
    respx_mock.post(MESSAGES_URL).mock(side_effect=httpx.ConnectTimeout("timed out"))
    with httpx.Client() as client, pytest.raises(DeliveryUnavailable, match="ConnectTimeout"):
        channel(client).deliver(outgoing(channel="sms"))
