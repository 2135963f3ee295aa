"""The SMS channel: a Twilio-compatible Messages API over httpx (off unless ``sms_enabled``).

``POST {base_url}/2010-04-01/Accounts/{sid}/Messages.json`` with the form fields To, From and
Body, HTTP basic auth (account sid, auth token). Sends only to a customer who opted in to SMS
and left a phone number (their stored preference, read at send time, so an opt-out made after
the message was written still holds). 429, 5xx and network errors raise
``DeliveryUnavailable`` (re-sent later); other 4xx raise ``DeliveryRejected``.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
from pydantic import SecretStr

from recovery.errors import DeliveryRejected, DeliveryUnavailable
from recovery.messaging.notifier import OutgoingMessage
from recovery.messaging.preferences import ContactPreferences

# Twilio's limit for one message's body (it splits longer texts into segments up to this).
MAX_BODY = 1600


class SmsChannel:
    def __init__(self, base_url: str, account_sid: str, auth_token: SecretStr | str,
                 from_number: str, client: httpx.Client, *,
                 preferences: Callable[[str, str | None], ContactPreferences]) -> None:
        self.url = f"{base_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self.account_sid = account_sid
        self._token = SecretStr(auth_token) if isinstance(auth_token, str) else auth_token
        self.from_number = from_number
        self.client = client
        self.preferences = preferences

    def __repr__(self) -> str:
        return f"SmsChannel(url={self.url!r}, from_number={self.from_number!r})"

    def deliver(self, message: OutgoingMessage) -> None:
        consent = self.preferences(message.account_id, message.customer_id)
        if not (consent.sms_opt_in and consent.phone):
            raise DeliveryRejected("the customer has not opted in to SMS with a phone number")
        body = (message.text or _short_text(message))[:MAX_BODY]
        try:
            response = self.client.post(
                self.url, data={"To": consent.phone, "From": self.from_number, "Body": body},
                auth=(self.account_sid, self._token.get_secret_value()))
        except httpx.HTTPError as problem:  # connect errors, timeouts, broken responses
            raise DeliveryUnavailable(f"the SMS API could not be reached: "
                                      f"{type(problem).__name__}: {problem}") from None
        if response.status_code < 300:
            return
        detail = f"the SMS API answered {response.status_code}: {_error_text(response)}"
        if response.status_code == 429 or response.status_code >= 500:
            raise DeliveryUnavailable(detail)
        raise DeliveryRejected(detail)

    def close(self) -> None:
        self.client.close()


def _short_text(message: OutgoingMessage) -> str:
    return f"{message.subject} {message.link}" if message.link else message.subject


def _error_text(response: httpx.Response) -> str:
    """Twilio's error body is JSON with ``code`` and ``message``; anything else is cut short."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict) and "message" in body:
        return f"{body.get('code', '')} {body['message']}".strip()[:200]
    return str(body)[:200]
