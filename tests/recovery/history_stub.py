"""An account's Stripe history served through respx at the HTTP edge, for the backfill's tests.

Invoices are listed as Stripe lists them (newest first, ``created[gte]`` and ``starting_after``
honoured, ``has_more`` set), in small pages so that a few invoices make several pages. Each
invoice's charges hang off one payment intent, read through ``/v1/invoice_payments`` and
``/v1/charges?payment_intent=``. Every request is recorded under a short name
(``invoices:<starting_after>``, ``payments:<invoice>``, ``charges:<intent>``), and ``failures``
makes the named request fail (a status code, or an exception such as ``httpx.ConnectError``),
once per queued entry.

``sample_history`` builds the account every backfill test reads: one invoice of each kind.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
import respx

from tests.webhooks import payloads as p

BASE = "https://api.stripe.com"


def invoice_json(invoice_id: str, status: str, created: datetime, *, ended: datetime | None,
                 customer: str = p.CUSTOMER_ID, attempt_count: int = 1) -> dict:
    """An endive Invoice as the list endpoint renders it (no ``payments`` unless expanded)."""
    body = p.invoice_object(p.LATEST, invoice_id=invoice_id, status=status, customer=customer,
                            attempt_count=attempt_count, include_payments=False)
    field_of = {"paid": "paid_at", "void": "voided_at", "uncollectible": "marked_uncollectible_at"}
    transitions = {"finalized_at": p.unix(created), "paid_at": None, "voided_at": None,
                   "marked_uncollectible_at": None}
    if status in field_of:
        transitions[field_of[status]] = p.unix(ended)
    body.update(created=p.unix(created), status_transitions=transitions,
                customer_address={"country": "FR", "state": None, "city": "Lyon",
                                  "line1": None, "line2": None, "postal_code": None})
    if status != "open":
        body["next_payment_attempt"] = None
    return body


def charge_json(charge_id: str, intent_id: str, at: datetime, *, succeeded: bool = False,
                fingerprint: str = p.FINGERPRINT, decline_code: str = "insufficient_funds",
                amount: int = 2500) -> dict:
    """A Charge of the intent: declined (issuer decline), or succeeded."""
    body = p.charge_object(p.LATEST, charge_id=charge_id, payment_intent=intent_id,
                           decline_code=decline_code, fingerprint=fingerprint, amount=amount)
    body["created"] = p.unix(at)
    if succeeded:
        body.update(status="succeeded", paid=True, captured=True, amount_captured=amount,
                    failure_code=None, failure_message=None)
        body["outcome"] = {"advice_code": None, "network_advice_code": None,
                           "network_decline_code": None, "network_status": "approved_by_network",
                           "reason": None, "risk_level": "normal",
                           "seller_message": "Payment complete.", "type": "authorized"}
    return body


@dataclass
class HistoryStub:
    invoices: list[dict] = field(default_factory=list)  # any order; listed newest first
    charges: dict[str, list[dict]] = field(default_factory=dict)  # invoice id -> its charges
    page_size: int = 3
    requests: list[str] = field(default_factory=list)
    sent: list[httpx.Request] = field(default_factory=list)  # the requests, as ``requests``
    failures: dict[str, deque] = field(default_factory=dict)

    def add(self, invoice: dict, *charges: dict) -> None:
        self.invoices.append(invoice)
        self.charges[invoice["id"]] = list(charges)

    def fail(self, request_name: str, *answers: int | Exception) -> None:
        self.failures.setdefault(request_name, deque()).extend(answers)

    def install(self, router: respx.MockRouter) -> None:
        router.get(f"{BASE}/v1/invoices").mock(side_effect=self._invoices)
        router.get(f"{BASE}/v1/invoice_payments").mock(side_effect=self._payments)
        router.get(f"{BASE}/v1/charges").mock(side_effect=self._charges)

    def _answer(self, request: httpx.Request, name: str, body: dict) -> httpx.Response:
        self.requests.append(name)
        self.sent.append(request)
        queued = self.failures.get(name)
        if queued:
            failure = queued.popleft()
            if isinstance(failure, Exception):
                raise failure
            error = {"type": "api_error", "message": "An unexpected error occurred."}
            return httpx.Response(failure, json={"error": error})
        return httpx.Response(200, json=body)

    def _invoices(self, request: httpx.Request) -> httpx.Response:
        params = request.url.params
        since = int(params.get("created[gte]", 0))
        listed = sorted((inv for inv in self.invoices if inv["created"] >= since),
                        key=lambda inv: (inv["created"], inv["id"]), reverse=True)
        after = params.get("starting_after")
        if after is not None:
            ids = [inv["id"] for inv in listed]
            listed = listed[ids.index(after) + 1:]
        page = listed[:self.page_size]
        body = _list(page, len(listed) > len(page), "/v1/invoices")
        return self._answer(request, f"invoices:{after or ''}", body)

    def _payments(self, request: httpx.Request) -> httpx.Response:
        invoice = request.url.params["invoice"]
        entries = []
        if self.charges.get(invoice):
            entries.append({
                "id": f"inpay_{invoice}", "object": "invoice_payment", "invoice": invoice,
                "amount_paid": None, "amount_requested": 2500, "currency": "usd",
                "created": self.charges[invoice][0]["created"], "is_default": True,
                "livemode": False, "status": "open",
                "payment": {"type": "payment_intent", "payment_intent": f"pi_{invoice}"},
                "status_transitions": {"canceled_at": None, "paid_at": None}})
        body = _list(entries, False, "/v1/invoice_payments")
        return self._answer(request, f"payments:{invoice}", body)

    def _charges(self, request: httpx.Request) -> httpx.Response:
        intent = request.url.params["payment_intent"]
        charges = self.charges.get(intent.removeprefix("pi_"), [])
        newest_first = sorted(charges, key=lambda charge: charge["created"], reverse=True)
        body = _list(newest_first, False, "/v1/charges")
        return self._answer(request, f"charges:{intent}", body)


def _list(data: list[dict], has_more: bool, url: str) -> dict:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


# The invoices of ``sample_history``, newest first, with what a backfill makes of each.
PAID_BY_RETRY = "in_PaidByStripeRetry01"  # declined twice, then Stripe's retry paid: recovered
PAID_BY_CUSTOMER = "in_PaidOnNewCard00001"  # declined, then paid on another card: recovered
VOIDED = "in_VoidedAfterDecline1"  # declined twice, then voided: closed elsewhere
UNCOLLECTIBLE = "in_WrittenOffDecline1"  # declined, then written off: closed elsewhere
STILL_OPEN = "in_StillOpenFailing01"  # declined, still open: attempts, no case
PAID_FIRST_TIME = "in_PaidFirstTime00001"  # paid at once: the customer's payment history
DRAFT = "in_DraftNotFinalized1"  # not finalized: nothing to import
TOO_OLD = "in_BeforeTheWindow001"  # created before the window: never listed


def sample_history(now: datetime) -> HistoryStub:
    """Eight invoices over the last 200 days (seven in a 180-day window: three pages)."""
    stub = HistoryStub()

    def days_ago(days: float) -> datetime:
        return now - timedelta(days=days)

    def declined(invoice: str, n: int, at: datetime, **kw) -> dict:
        return charge_json(f"ch_{invoice}_{n}", f"pi_{invoice}", at, **kw)

    t = days_ago(120)
    stub.add(invoice_json(PAID_FIRST_TIME, "paid", days_ago(150), ended=days_ago(150)),
             declined(PAID_FIRST_TIME, 1, days_ago(150), succeeded=True))
    stub.add(invoice_json(PAID_BY_RETRY, "paid", t, ended=t + timedelta(days=5),
                          attempt_count=3),
             declined(PAID_BY_RETRY, 1, t), declined(PAID_BY_RETRY, 2, t + timedelta(days=3)),
             declined(PAID_BY_RETRY, 3, t + timedelta(days=5), succeeded=True))
    t = days_ago(90)
    stub.add(invoice_json(PAID_BY_CUSTOMER, "paid", t, ended=t + timedelta(days=2),
                          customer="cus_TestCustomer0002"),
             declined(PAID_BY_CUSTOMER, 1, t, fingerprint="fpOldCard"),
             declined(PAID_BY_CUSTOMER, 2, t + timedelta(days=2), succeeded=True,
                      fingerprint="fpNewCard"))
    t = days_ago(60)
    stub.add(invoice_json(VOIDED, "void", t, ended=t + timedelta(days=10), attempt_count=2),
             declined(VOIDED, 1, t, decline_code="do_not_honor"),
             declined(VOIDED, 2, t + timedelta(days=4), decline_code="do_not_honor"))
    t = days_ago(40)
    stub.add(invoice_json(UNCOLLECTIBLE, "uncollectible", t, ended=t + timedelta(days=20)),
             declined(UNCOLLECTIBLE, 1, t, decline_code="generic_decline"))
    stub.add(invoice_json(STILL_OPEN, "open", days_ago(3), ended=None),
             declined(STILL_OPEN, 1, days_ago(3)))
    stub.add(invoice_json(DRAFT, "draft", days_ago(1), ended=None, attempt_count=0))
    stub.add(invoice_json(TOO_OLD, "paid", days_ago(200), ended=days_ago(200)),
             declined(TOO_OLD, 1, days_ago(200), succeeded=True))
    return stub
