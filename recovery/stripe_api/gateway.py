"""The only module that calls the Stripe API (``history`` pages through lists with its ``_call``).
It returns our own values, never ``stripe.*`` objects.

Card declines come back as ``PaymentOutcome`` values; transport trouble (429, 5xx, 409, network)
becomes ``GatewayUnavailable`` so the caller retries later with the same idempotency key
(``error_translation``). Before that, a request that is safe to send again (a read, or a keyed
write Stripe replays) is repeated at once a few times (``transient_retries``): a blip then costs a
second, not the action's backoff, and the action keeps the moment it was planned for.
Every method's ``stripe_account`` says whose data it reaches
(``access.StripeAccess``): the gateway's key, a Connect account, or an account's own key.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any, TypeVar

import httpx
import stripe

from recovery.errors import GatewayError, GatewayUnavailable
from recovery.runtime.logs import redact_http_loggers
from recovery.stripe_api import history
from recovery.stripe_api.access import StripeAccess, pacing_key, request_options
from recovery.stripe_api.error_translation import translate_error
from recovery.stripe_api.history import InvoicePage, PastAttempt, next_page
from recovery.stripe_api.rate_limit import RateLimiter, TokenBucket
from recovery.stripe_api.results import (
    AttemptDetails,
    CustomerContact,
    InvoiceState,
    PaymentOutcome,
    RegisteredEndpoint,
    StripeAccountInfo,
    SubscriptionState,
    id_of,
    is_after,
    newest_as_of,
    payment_as_of,
    read_account,
    read_charge_attempt,
    read_declined_payment,
    read_endpoint,
    read_intent_attempt,
    read_invoice,
    read_paid_invoice,
    read_payment_method_card,
    read_refused_payment,
    read_source_card,
    read_subscription,
)
from webhooks.facts import CardInfo

# Every request states this version, so responses keep the shapes gateway_results reads even if
# the SDK is upgraded; the tests check that it is still the SDK's own pinned version.
PINNED_API_VERSION = "2026-10-28.endive"
PAUSE_BEHAVIORS = frozenset({"keep_as_draft", "mark_uncollectible", "void"})

T = TypeVar("T")
# Stripe's SDK methods that only read (GET): sending them again changes nothing.
READ_METHODS = frozenset({"retrieve", "list", "retrieve_current", "next_page"})
# Writes Stripe does not replay by idempotency key (DELETE): sent once, whatever happens.
UNREPEATABLE_WRITES = frozenset({"cancel", "delete"})
# The waits before a safe request is sent again (Stripe's advice: retry 429, 409, 5xx and
# network errors with a short exponential backoff,
# https://docs.stripe.com/error-low-level#idempotency). A longer Retry-After is left to the
# caller's own backoff.
RETRY_WAIT_SECONDS = 0.5
MAX_RETRY_WAIT_SECONDS = 2.0


def _build_http_client(timeout: float, transport: httpx.BaseTransport | None) -> stripe.HTTPXClient:
    http_client = stripe.HTTPXClient(allow_sync_methods=True, timeout=timeout)
    if transport is not None:
        # HTTPXClient has no public way to take a transport: it builds its own httpx.Client in
        # ``_client``. The sandbox routes requests to its in-process fake Stripe through here.
        http_client._client.close()
        http_client._client = httpx.Client(transport=transport)
    return http_client


class StripeGateway:
    """Stripe API calls for the engine, per connected account (``stripe_account``)."""

    def __init__(
        self,
        api_key: str,
        *,
        api_base: str = "https://api.stripe.com",
        rate_limiter: RateLimiter | None = None,
        transport: httpx.BaseTransport | None = None,
        max_network_retries: int = 0,
        timeout: float = 30,
        transient_retries: int = 0,
        wait: Callable[[float], None] = time.sleep,
    ) -> None:
        self._http_client = _build_http_client(timeout, transport)
        self._client = stripe.StripeClient(
            api_key,
            http_client=self._http_client,
            base_addresses={"api": api_base},
            max_network_retries=max_network_retries,
            stripe_version=PINNED_API_VERSION,
        )
        # None: no client-side pacing. The composition root passes a limiter sized with
        # rate_limit.default_rate(livemode) for real accounts (shared through the database).
        self._limiter = rate_limiter if rate_limiter is not None else TokenBucket(None)
        self._retries = transient_retries
        self._wait = wait
        self.api_version = PINNED_API_VERSION
        # The SDK logs response bodies at DEBUG (a new endpoint's signing secret among them):
        # mask secrets there whether or not the process configured logging.
        redact_http_loggers()

    def close(self) -> None:
        self._http_client.close()

    def _call(
        self,
        method: Callable[..., T],
        *args: Any,
        account: StripeAccess,
        key: str | None = None,
        passthrough: tuple[type[stripe.StripeError], ...] = (),
    ) -> T:
        """Take a rate-limit token for the account, then make the request as ``method(*args,
        options)`` and translate its errors (except the ``passthrough`` ones). Stripe trouble on
        a request that is safe to repeat (``_repeatable``) sends it again at once, up to
        ``transient_retries`` times, before it is raised."""
        repeatable = _repeatable(method, key)
        for attempt in range(self._retries + 1):
            self._limiter.acquire(pacing_key(account))
            try:
                return method(*args, request_options(account, key))
            except passthrough:
                raise
            except stripe.StripeError as err:
                error = translate_error(err, keyed=key is not None)
                wait = _retry_wait(error, attempt) if repeatable else None
                if wait is None or attempt == self._retries:
                    raise error from err
            self._wait(wait)
        raise AssertionError("unreachable: the last attempt returns or raises")

    # Invoices

    def retrieve_invoice(
        self, invoice_id: str, *, stripe_account: StripeAccess = None
    ) -> InvoiceState:
        invoices = self._client.v1.invoices
        return read_invoice(self._call(invoices.retrieve, invoice_id, None, account=stripe_account))

    def retrieve_subscription(
        self, subscription_id: str, *, stripe_account: StripeAccess = None
    ) -> SubscriptionState:
        subscriptions = self._client.v1.subscriptions
        return read_subscription(
            self._call(subscriptions.retrieve, subscription_id, None, account=stripe_account))

    def pay_invoice(
        self, invoice_id: str, *, idempotency_key: str, payment_method_id: str | None = None,
        stripe_account: StripeAccess = None,
    ) -> PaymentOutcome:
        """Attempt payment off-session (POST /v1/invoices/{id}/pay); a decline is a value."""
        params: dict[str, Any] = {"off_session": True}
        if payment_method_id is not None:
            params["payment_method"] = payment_method_id
        try:
            invoice = self._call(
                self._client.v1.invoices.pay, invoice_id, params, account=stripe_account,
                key=idempotency_key, passthrough=(stripe.CardError, stripe.InvalidRequestError),
            )
        except stripe.CardError as err:
            return read_declined_payment(err.error)
        except stripe.InvalidRequestError as err:
            return read_refused_payment(err.error, code=err.code, message=err.user_message)
        return read_paid_invoice(invoice)

    def set_auto_advance(
        self, invoice_id: str, enabled: bool, *, idempotency_key: str | None = None,
        stripe_account: StripeAccess = None,
    ) -> InvoiceState:
        """``auto_advance=False`` stops Stripe's own collection of this invoice
        (https://docs.stripe.com/invoicing/integration/automatic-advancement-collection)."""
        invoice = self._call(
            self._client.v1.invoices.update, invoice_id, {"auto_advance": enabled},
            account=stripe_account, key=idempotency_key,
        )
        return read_invoice(invoice)

    def mark_uncollectible(
        self, invoice_id: str, *, idempotency_key: str | None = None,
        stripe_account: StripeAccess = None,
    ) -> InvoiceState:
        invoice = self._call(
            self._client.v1.invoices.mark_uncollectible, invoice_id, None,
            account=stripe_account, key=idempotency_key,
        )
        return read_invoice(invoice)

    def void_invoice(
        self, invoice_id: str, *, idempotency_key: str | None = None,
        stripe_account: StripeAccess = None,
    ) -> InvoiceState:
        invoice = self._call(
            self._client.v1.invoices.void_invoice, invoice_id, None,
            account=stripe_account, key=idempotency_key,
        )
        return read_invoice(invoice)

    def open_invoices(
        self, customer_id: str, *, stripe_account: StripeAccess = None
    ) -> list[InvoiceState]:
        """Every open invoice of a customer. Pages are fetched one by one through ``_call``
        (not ``auto_paging_iter``) so each page takes a rate-limit token and maps its errors."""
        params = {"customer": customer_id, "status": "open", "limit": 100}
        page = self._call(self._client.v1.invoices.list, params, account=stripe_account)
        states = [read_invoice(invoice) for invoice in page.data]
        while page.has_more:
            page = self._call(next_page, page, account=stripe_account)
            states.extend(read_invoice(invoice) for invoice in page.data)
        return states

    # History (the backfill's reads)

    def invoice_history(
        self, since: datetime, *, starting_after: str | None = None,
        stripe_account: StripeAccess = None,
    ) -> Iterator[InvoicePage]:
        """The invoices created at or after ``since``, newest first, one page per request;
        ``starting_after``: continue after that invoice (a resumed backfill's cursor)."""
        return history.invoice_pages(self._call, self._client.v1, since,
                                     starting_after=starting_after, stripe_account=stripe_account)

    def invoice_attempts(
        self, invoice_id: str, *, stripe_account: StripeAccess = None
    ) -> tuple[PastAttempt, ...]:
        """Every charge made on the invoice, with its outcome and decline details, oldest first."""
        return history.invoice_attempts(self._call, self._client.v1, invoice_id,
                                        stripe_account=stripe_account)

    # Attempts and cards

    def latest_attempt(
        self, invoice_id: str, *, at: datetime | None = None, stripe_account: StripeAccess = None
    ) -> AttemptDetails | None:
        """The newest payment attempt on an invoice as of ``at`` (None: now), read through
        InvoicePayments: since API version 2025-03-31.basil an invoice no longer names its
        charge or payment intent. An ``invoice.payment_failed`` passes its own time, so that,
        handled after later retries, it still reads the attempt it reports."""
        # Expanding down to the intent's latest charge (Stripe allows four levels) gets the
        # decline outcome in one request instead of two.
        params = {"invoice": invoice_id,
                  "expand": ["data.payment.payment_intent.latest_charge"]}
        listed = self._call(self._client.v1.invoice_payments.list, params, account=stripe_account)
        if not listed.data:
            return None
        entry = payment_as_of(listed.data, at)
        payment = getattr(entry, "payment", None)
        intent = getattr(payment, "payment_intent", None)
        charge = getattr(payment, "charge", None)
        if intent is not None:
            return self._intent_attempt(intent, at, stripe_account)
        if charge is not None:
            return self.charge_details(id_of(charge), stripe_account=stripe_account)
        # A payment_record (paid outside Stripe) carries no charge or decline details.
        paid = getattr(entry, "status", None) == "paid"
        return AttemptDetails(None, None, None, None, succeeded=paid)

    def _intent_attempt(self, intent: Any, at: datetime | None,
                        stripe_account: StripeAccess) -> AttemptDetails:
        """Read a payment intent with its ``latest_charge`` expanded (the charge holds the
        ``outcome``), fetching it unless the list already expanded both levels. Stripe keeps one
        intent for all of an invoice's retries, each a new charge: when the latest is newer than
        ``at``, the charge the caller means is an earlier one of the intent's."""
        # An expanded intent without a latest charge has made none (it may wait for the
        # customer); an id, or a charge named only by id, must be read.
        if isinstance(intent, str) or isinstance(getattr(intent, "latest_charge", None), str):
            intents = self._client.v1.payment_intents
            params = {"expand": ["latest_charge"]}
            intent = self._call(intents.retrieve, id_of(intent), params, account=stripe_account)
        if not is_after(getattr(intent, "latest_charge", None), at):
            return read_intent_attempt(intent)
        earlier = self._charge_as_of(intent.id, at, stripe_account)
        return read_charge_attempt(earlier) if earlier is not None else read_intent_attempt(intent)

    def _charge_as_of(self, intent_id: str, at: datetime, stripe_account: StripeAccess) -> Any:
        """The intent's newest charge created at or before ``at``, if any."""
        cutoff = int(at.timestamp())
        params = {"payment_intent": intent_id, "created": {"lte": cutoff}, "limit": 100}
        listed = self._call(self._client.v1.charges.list, params, account=stripe_account)
        return newest_as_of(listed.data, at)

    def charge_details(
        self, charge_id: str, *, stripe_account: StripeAccess = None
    ) -> AttemptDetails:
        charges = self._client.v1.charges
        charge = self._call(charges.retrieve, charge_id, None, account=stripe_account)
        return read_charge_attempt(charge)

    def customer_default_card(
        self, customer_id: str, *, stripe_account: StripeAccess = None
    ) -> CardInfo | None:
        """The card Stripe would charge for the customer: the invoice-settings default payment
        method, else a legacy default source when that is a card."""
        params = {"expand": ["invoice_settings.default_payment_method", "default_source"]}
        customers = self._client.v1.customers
        customer = self._call(customers.retrieve, customer_id, params, account=stripe_account)
        if getattr(customer, "deleted", False):
            return None
        settings = getattr(customer, "invoice_settings", None)
        method = getattr(settings, "default_payment_method", None)
        if isinstance(method, str):
            return self.payment_method_card(method, stripe_account=stripe_account)
        if method is not None:
            return read_payment_method_card(method)
        return read_source_card(getattr(customer, "default_source", None))

    def customer_contact(
        self, customer_id: str, *, stripe_account: StripeAccess = None
    ) -> CustomerContact:
        """The customer's email, name, phone and preferred locales (``preferred_locales``, most
        preferred first), read when a message is sent so a change on Stripe's side counts."""
        customer = self._call(self._client.v1.customers.retrieve, customer_id, None,
                              account=stripe_account)
        if getattr(customer, "deleted", False):
            return CustomerContact(None, None, None, (), deleted=True)
        locales = getattr(customer, "preferred_locales", None) or ()
        return CustomerContact(
            email=getattr(customer, "email", None), name=getattr(customer, "name", None),
            phone=getattr(customer, "phone", None),
            preferred_locales=tuple(str(locale) for locale in locales))

    def payment_method_card(
        self, payment_method_id: str, *, stripe_account: StripeAccess = None
    ) -> CardInfo | None:
        methods = self._client.v1.payment_methods
        method = self._call(methods.retrieve, payment_method_id, None, account=stripe_account)
        return read_payment_method_card(method)

    def set_default_payment_method(
        self, customer_id: str, payment_method_id: str, *, subscription_id: str | None = None,
        idempotency_key: str | None = None, stripe_account: StripeAccess = None,
    ) -> None:
        """Make a payment method the default for invoices. Stripe's retries charge the
        subscription's own ``default_payment_method`` before the customer's default, so a
        subscription-level card that failed must be replaced there too."""
        self._call(
            self._client.v1.customers.update, customer_id,
            {"invoice_settings": {"default_payment_method": payment_method_id}},
            account=stripe_account, key=_step_key(idempotency_key, "customer"),
        )
        if subscription_id is not None:
            self._call(
                self._client.v1.subscriptions.update, subscription_id,
                {"default_payment_method": payment_method_id},
                account=stripe_account, key=_step_key(idempotency_key, "subscription"),
            )

    def card_update_link(
        self, customer_id: str, return_url: str, *, idempotency_key: str | None = None,
        stripe_account: StripeAccess = None,
    ) -> str:
        """A billing-portal link that opens straight on "update payment method"."""
        params = {
            "customer": customer_id,
            "return_url": return_url,
            "flow_data": {
                "type": "payment_method_update",
                "after_completion": {"type": "redirect", "redirect": {"return_url": return_url}},
            },
        }
        sessions = self._client.v1.billing_portal.sessions
        session = self._call(sessions.create, params, account=stripe_account, key=idempotency_key)
        return session.url

    # Events (thin event notifications carry no snapshot: these read one)

    def retrieve_event(self, event_id: str, *, stripe_account: StripeAccess = None) -> dict:
        """A v1 snapshot event as Stripe renders it (GET /v1/events/{id}), as plain JSON: the
        payload a snapshot webhook would have carried (rendered in the pinned version)."""
        events = self._client.v1.events
        return _json_of(self._call(events.retrieve, event_id, None, account=stripe_account))

    def retrieve_object(self, object_type: str, object_id: str, *,
                        stripe_account: StripeAccess = None) -> dict:
        """The current state of the object a thin event names, as plain JSON. Raises
        ``ValueError`` for a type the engine never reads (see ``READABLE_OBJECTS``)."""
        if object_type not in READABLE_OBJECTS:
            raise ValueError(f"cannot read a {object_type!r}: not an object the engine uses")
        service = getattr(self._client.v1, READABLE_OBJECTS[object_type])
        return _json_of(self._call(service.retrieve, object_id, None, account=stripe_account))

    # Subscriptions

    def cancel_subscription(
        self, subscription_id: str, *, comment: str | None = None,
        idempotency_key: str | None = None, stripe_account: StripeAccess = None,
    ) -> str:
        """Cancel now (DELETE /v1/subscriptions/{id}); returns the new status."""
        params = {"cancellation_details": {"comment": comment}} if comment else None
        subscription = self._call(
            self._client.v1.subscriptions.cancel, subscription_id, params,
            account=stripe_account, key=idempotency_key,
        )
        return subscription.status

    def pause_collection(
        self, subscription_id: str, behavior: str, resumes_at: datetime | None = None, *,
        idempotency_key: str | None = None, stripe_account: StripeAccess = None,
    ) -> str:
        """Pause invoice collection; the subscription stays ``active`` and invoices created before
        the pause keep being retried (https://docs.stripe.com/billing/subscriptions/pause-payment).
        """
        if behavior not in PAUSE_BEHAVIORS:
            raise ValueError(f"behavior must be one of {sorted(PAUSE_BEHAVIORS)}, not {behavior!r}")
        pause: dict[str, Any] = {"behavior": behavior}
        if resumes_at is not None:
            if resumes_at.tzinfo is None:
                raise ValueError("resumes_at must be timezone-aware")
            pause["resumes_at"] = int(resumes_at.timestamp())
        subscription = self._call(
            self._client.v1.subscriptions.update, subscription_id, {"pause_collection": pause},
            account=stripe_account, key=idempotency_key,
        )
        return subscription.status

    def apply_discount(
        self, subscription_id: str, percent_off: int, months: int, *, idempotency_key: str,
        stripe_account: StripeAccess = None,
    ) -> str:
        """Create a repeating coupon and put it on the subscription; returns the coupon id.
        Since basil a subscription takes ``discounts=[{"coupon": …}]``, which replaces the list."""
        if not 0 < percent_off <= 100 or months < 1:
            raise ValueError("percent_off must be in 1..100 and months at least 1")
        coupon = self._call(
            self._client.v1.coupons.create,
            {"percent_off": percent_off, "duration": "repeating", "duration_in_months": months},
            account=stripe_account, key=_step_key(idempotency_key, "coupon"),
        )
        self._call(
            self._client.v1.subscriptions.update, subscription_id,
            {"discounts": [{"coupon": coupon.id}]},
            account=stripe_account, key=_step_key(idempotency_key, "subscription"),
        )
        return coupon.id


    # The account itself and its webhook endpoints (connecting and removing an account)

    def current_account(self, *, stripe_account: StripeAccess = None) -> StripeAccountInfo:
        """The Stripe account the access reaches (GET /v1/account): one call that proves a key
        works, or that a Connect account is connected to the platform."""
        return read_account(self._call(self._client.v1.accounts.retrieve_current, None,
                                       account=stripe_account))

    def create_webhook_endpoint(
        self, url: str, enabled_events: Sequence[str], *, connect: bool = False,
        description: str | None = None, metadata: dict[str, str] | None = None,
        idempotency_key: str | None = None, stripe_account: StripeAccess = None,
    ) -> RegisteredEndpoint:
        """Register a webhook endpoint rendering events in the pinned API version; ``connect``:
        the platform's endpoint for its connected accounts' events."""
        params: dict[str, Any] = {"url": url, "enabled_events": list(enabled_events),
                                  "api_version": self.api_version}
        if connect:
            params["connect"] = True
        if description:
            params["description"] = description
        if metadata:
            params["metadata"] = metadata
        endpoint = self._call(self._client.v1.webhook_endpoints.create, params,
                              account=stripe_account, key=idempotency_key)
        return read_endpoint(endpoint)

    def delete_webhook_endpoint(self, endpoint_id: str, *,
                                stripe_account: StripeAccess = None) -> bool:
        """Delete an endpoint; False when Stripe no longer has it (deleted already)."""
        try:
            self._call(self._client.v1.webhook_endpoints.delete, endpoint_id, None,
                       account=stripe_account, passthrough=(stripe.InvalidRequestError,))
        except stripe.InvalidRequestError as err:
            if err.http_status == 404:
                return False
            raise translate_error(err) from err
        return True

# Object types a thin event may name that the engine reads, with their ``client.v1`` service.
READABLE_OBJECTS = {"invoice": "invoices", "charge": "charges", "payment_intent": "payment_intents",
                    "payment_method": "payment_methods", "customer": "customers",
                    "subscription": "subscriptions"}


def _json_of(obj: Any) -> dict:
    """The response body behind an SDK object, decoded afresh: plain JSON values only (the SDK's
    own objects turn some fields into ``Decimal``, which a JSON column cannot store)."""
    response = getattr(obj, "last_response", None)
    if response is None:
        raise GatewayError("Stripe's answer carried no body")
    return json.loads(response.body)




def _step_key(idempotency_key: str | None, step: str) -> str | None:
    """One key per request of a multi-request action: Stripe rejects a key reused for a
    different request (https://docs.stripe.com/api/idempotent_requests)."""
    return None if idempotency_key is None else f"{idempotency_key}:{step}"


def _repeatable(method: Callable[..., Any], key: str | None) -> bool:
    """A read, or a write Stripe replays for its idempotency key: sending it again cannot do
    anything twice."""
    name = getattr(method, "__name__", "")
    if name in READ_METHODS:
        return True
    return key is not None and name not in UNREPEATABLE_WRITES


def _retry_wait(error: GatewayError, attempt: int) -> float | None:
    """How long to wait before sending a failed request again, or None to raise it now: not
    Stripe trouble, a 5xx Stripe stored under the key (it would answer the same again), or a
    Retry-After longer than a retry at once is worth."""
    if not isinstance(error, GatewayUnavailable) or error.key_spent:
        return None
    wait = RETRY_WAIT_SECONDS * 2 ** attempt
    if error.retry_after_seconds is not None:
        if error.retry_after_seconds > MAX_RETRY_WAIT_SECONDS:
            return None
        wait = max(wait, error.retry_after_seconds)
    return min(wait, MAX_RETRY_WAIT_SECONDS)
