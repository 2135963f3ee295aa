"""Stripe's error bodies for the fake Stripe, and the exception its handlers raise to send one.

Only the shapes live here (``{"error": {...}}`` with Stripe's types and codes); deciding when to
answer with an error is the handlers' job.
"""

from __future__ import annotations

from typing import Any

DOCS = "https://docs.stripe.com/error-codes"

# What Stripe tells the payer for the common card failures; anything else reads as a plain decline.
CARD_MESSAGES = {
    "insufficient_funds": "Your card has insufficient funds.",
    "expired_card": "Your card has expired.",
    "incorrect_cvc": "Your card's security code is incorrect.",
    "incorrect_number": "Your card number is incorrect.",
    "processing_error": "An error occurred while processing your card. Try again in a little bit.",
    "authentication_required": "Your card was declined. This transaction requires authentication.",
}
DECLINED = "Your card was declined."


class StripeApiError(Exception):
    """Raised by a handler to answer with Stripe's error body and HTTP status."""

    def __init__(self, status: int, error: dict[str, Any]) -> None:
        super().__init__(error.get("message"))
        self.status = status
        self.error = error

    def body(self) -> dict[str, Any]:
        return {"error": self.error}


def doc_url(code: str) -> str:
    return f"{DOCS}/{code.replace('_', '-')}"


def not_found(kind: str, object_id: str, param: str = "id") -> StripeApiError:
    return StripeApiError(404, {
        "type": "invalid_request_error",
        "code": "resource_missing",
        "doc_url": doc_url("resource_missing"),
        "message": f"No such {kind}: '{object_id}'",
        "param": param,
    })


def invalid_request(message: str, *, code: str | None = None,
                    param: str | None = None) -> StripeApiError:
    error: dict[str, Any] = {"type": "invalid_request_error", "message": message}
    if code is not None:
        error["code"] = code
        error["doc_url"] = doc_url(code)
    if param is not None:
        error["param"] = param
    return StripeApiError(400, error)


def unknown_route(method: str, path: str) -> StripeApiError:
    return invalid_request(f"Unrecognized request URL ({method}: {path}).")


def idempotency_conflict(key: str) -> StripeApiError:
    # Stripe compares a reused key's request with the saved one and refuses a different one.
    return StripeApiError(400, {
        "type": "idempotency_error",
        "message": (
            "Keys for idempotent requests can only be used with the same parameters they were "
            f"first used with. Try using a key other than '{key}' if you meant to execute a "
            "different request."
        ),
    })


def unauthenticated() -> StripeApiError:
    return StripeApiError(401, {
        "type": "invalid_request_error",
        "message": "You did not provide an API key.",
    })


def card_message(failure_code: str | None, decline_code: str | None) -> str:
    for code in (decline_code, failure_code):
        if code in CARD_MESSAGES:
            return CARD_MESSAGES[code]
    return DECLINED


def rate_limited() -> StripeApiError:
    # Stripe answers 429 with an invalid_request_error whose code is rate_limit
    # (https://docs.stripe.com/rate-limits); the SDK raises RateLimitError for any 429.
    return StripeApiError(429, {
        "type": "invalid_request_error",
        "code": "rate_limit",
        "doc_url": doc_url("rate_limit"),
        "message": "Too many requests in too short a time: back off and try again later.",
    })


def server_error() -> StripeApiError:
    # A 5xx is an api_error without a code; the SDK raises APIError for it.
    return StripeApiError(500, {
        "type": "api_error",
        "message": "The server met an unexpected condition and could not answer the request.",
    })
