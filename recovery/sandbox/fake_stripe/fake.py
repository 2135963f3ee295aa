"""The simulated Stripe the sandbox runs the real engine against: ``FakeStripe``.

It serves Stripe's REST API (API version 2026-10-28.endive) in process through an httpx transport
or on a loopback HTTP server, asks the World how each charge ends, runs Stripe's own retry
schedule, and sends signed webhooks through ``deliver``. It never reads the wall clock: all times
come from the clock it is given. The pieces live in the ``fake_stripe_*`` modules.

Events each action sends (``customer.subscription.updated`` follows any status change):

- ``renew``: paid → ``invoice.paid`` (only with ``emit_success_events``); declined →
  ``charge.failed``, ``invoice.payment_failed`` (+ ``invoice.payment_action_required`` when the
  issuer wants authentication).
- ``tick`` retries and ``POST /v1/invoices/{id}/pay``: declined → as above; paid →
  ``invoice.paid``, ``invoice.payment_succeeded``. ``pay_on_session`` → the paid pair.
- ``update_card``: automatic → ``payment_method.automatically_updated``; by the customer →
  ``payment_method.attached``, ``customer.updated``, ``customer.subscription.updated``.
- ``cancel_by_customer`` and ``DELETE /v1/subscriptions/{id}`` → ``customer.subscription.deleted``.
- API updates: ``invoice.updated``, ``invoice.voided``, ``invoice.marked_uncollectible``,
  ``customer.updated``, ``customer.subscription.updated``, ``customer.subscription.paused``.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import httpx

from recovery.runtime.clock import Clock
from recovery.sandbox.fake_stripe.api import RestApi
from recovery.sandbox.fake_stripe.audit import ChargeAudit
from recovery.sandbox.fake_stripe.charging import Charging
from recovery.sandbox.fake_stripe.customers import Customers, SubscriberIds
from recovery.sandbox.fake_stripe.events import EventOutbox
from recovery.sandbox.fake_stripe.http import FakeStripeTransport, RestFront, Router
from recovery.sandbox.fake_stripe.invoicing import Invoicing
from recovery.sandbox.fake_stripe.ledger import Ledger
from recovery.sandbox.fake_stripe.server import ServerHandle, serve
from recovery.sandbox.world.contract import Card, Subscriber, World

__all__ = ["FakeStripe", "ServerHandle", "SubscriberIds"]


class FakeStripe:
    """Stripe Billing for one simulated account. Thread-safe: one lock guards all state, and
    webhooks are delivered after it is released, in the order they happened.

    ``hold_webhooks=True`` keeps events queued until ``deliver_pending()`` (a driver that wants
    to deliver at its own pace); ``enabled_events`` limits the types sent, like an endpoint's
    setting of that name. Webhook signatures are stamped on ``signing_clock`` (default: ``clock``),
    the clock the receiver judges their age on.
    """

    def __init__(self, world: World, clock: Clock, *, webhook_secret: str,
                 deliver: Callable[[str, str], None], account_id: str = "acct_sandbox",
                 stripe_retry_days: Sequence[float] = (), emit_success_events: bool = True,
                 enabled_events: Collection[str] | None = None,
                 hold_webhooks: bool = False, signing_clock: Clock | None = None) -> None:
        self._lock = threading.RLock()
        self._clock = clock
        self._hold = hold_webhooks
        self._ledger = Ledger(clock, account_id)
        self._subscribers: dict[str, Subscriber] = {}
        self._ids: dict[str, SubscriberIds] = {}
        self._subscriber_of: dict[str, str] = {}  # customer id -> subscriber id
        self._outbox = EventOutbox(clock, self._ledger.new_id, secret=webhook_secret,
                                   deliver=deliver, enabled_events=enabled_events,
                                   signing_clock=signing_clock)
        self._charging = Charging(self._ledger, world, self._outbox,
                                  subscriber_of=self._subscriber_of,
                                  retry_days=stripe_retry_days,
                                  emit_success_events=emit_success_events)
        self._invoicing = Invoicing(self._ledger, self._outbox, self._charging)
        self._customers = Customers(self._ledger, self._outbox, self._invoicing)
        router = Router()
        RestApi(self._ledger, self._charging, self._invoicing, self._customers).install(router)
        self._front = RestFront(router, self._lock, clock, lambda: self._ledger.new_id("req"),
                                self._after)

    # --- ways in ----------------------------------------------------------------------------

    def transport(self) -> httpx.BaseTransport:
        """An in-process transport serving the REST API (no sockets; the fast path)."""
        return FakeStripeTransport(self._front)

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> ServerHandle:
        """The same API on a real HTTP server bound to loopback; ``port=0`` picks a free one."""
        return serve(self._front, host, port)

    def _after(self) -> None:
        if not self._hold:
            self._outbox.flush()

    def pending_webhooks(self) -> int:
        """Events queued and not yet delivered."""
        return self._outbox.pending()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the fake's state lock: the World is not thread-safe, so a driver that talks to
        it while the fake serves requests in other threads does so inside this."""
        with self._lock:
            yield

    def deliver_pending(self) -> int:
        """Deliver every queued webhook now; returns how many were sent."""
        return self._outbox.flush()

    # --- driver actions ---------------------------------------------------------------------

    def add_subscriber(self, sub: Subscriber) -> SubscriberIds:
        """Customer, card and active subscription for a World subscriber (no webhooks)."""
        with self._lock:
            if sub.id in self._ids:
                return self._ids[sub.id]
            ids = self._customers.add_subscriber(sub)
            self._subscribers[sub.id] = sub
            self._ids[sub.id] = ids
            self._subscriber_of[ids.customer_id] = sub.id
            return ids

    def renew(self, subscriber_id: str) -> str | None:
        """Create and finalize the renewal invoice, then make Stripe's first automatic attempt.
        Returns the invoice id, or None when the subscription is canceled or paused."""
        with self._lock:
            ids = self.ids_for(subscriber_id)
            sub = self._ledger.get(ids.subscription_id, "subscription")
            invoice_id = self._invoicing.renew(self._subscribers[subscriber_id], sub)
        self._after()
        return invoice_id

    def tick(self) -> int:
        """Run Stripe's automatic retries that are due; returns how many ran."""
        with self._lock:
            ran = self._charging.run_due(self._invoicing.card_on_file)
        if ran:
            self._after()
        return ran

    def next_retry_at(self) -> datetime | None:
        """When ``tick`` may next have work (an upper bound on how long to wait)."""
        with self._lock:
            return self._charging.next_due()

    def update_card(self, subscriber_id: str, card: Card, automatic: bool) -> None:
        """``automatic``: the card updater changes the card on file in place. Otherwise the
        customer adds a new card, which becomes the customer's and the subscription's default."""
        with self._lock:
            ids = self.ids_for(subscriber_id)
            sub = self._ledger.get(ids.subscription_id, "subscription")
            customer = self._ledger.get(ids.customer_id, "customer")
            if automatic:
                method_id = (sub["default_payment_method"]
                             or customer["invoice_settings"]["default_payment_method"])
                method = self._ledger.get(method_id, "payment_method")
                self._customers.update_card_in_place(method, card)
            else:
                live = sub if sub["status"] != "canceled" else None
                self._customers.attach_new_card(customer, live, card, subscriber_id)
        self._after()

    def pay_on_session(self, subscriber_id: str, invoice_id: str) -> bool:
        """The customer paid on the hosted page. The World already decided, so it is not asked.
        Returns False (and does nothing) when the invoice is not open."""
        with self._lock:
            self.ids_for(subscriber_id)
            invoice = self._ledger.find(invoice_id)
            if invoice is None or invoice["status"] != "open":
                return False
            self._charging.pay_on_session(invoice, self._invoicing.card_on_file(invoice))
        self._after()
        return True

    def cancel_by_customer(self, subscriber_id: str) -> bool:
        """The customer cancels; False when the subscription had already ended."""
        with self._lock:
            sub = self._ledger.get(self.ids_for(subscriber_id).subscription_id, "subscription")
            if sub["status"] == "canceled":
                return False
            self._customers.cancel_subscription(sub, reason="cancellation_requested",
                                                origin=(None, None))
        self._after()
        return True

    def check_world(self) -> None:
        """Raise the first ``WorldContractError`` a charge met, wherever the charge was made."""
        with self._lock:
            error = self._charging.world_error
        if error is not None:
            raise error

    # --- introspection ----------------------------------------------------------------------

    def ids_for(self, subscriber_id: str) -> SubscriberIds:
        with self._lock:
            try:
                return self._ids[subscriber_id]
            except KeyError:
                raise KeyError(f"unknown subscriber {subscriber_id!r}") from None

    def subscriber_for_customer(self, customer_id: str) -> str | None:
        with self._lock:
            return self._subscriber_of.get(customer_id)

    def invoice(self, invoice_id: str) -> dict[str, Any]:
        """A copy of the invoice as Stripe holds it now."""
        return self._copy(invoice_id, "invoice")

    def subscription(self, subscription_id: str) -> dict[str, Any]:
        return self._copy(subscription_id, "subscription")

    def charges_for(self, invoice_id: str) -> list[dict[str, Any]]:
        """Copies of every charge attempted on the invoice, oldest first."""
        with self._lock:
            ids = self._charging.charges_of.get(invoice_id, [])
            return [copy.deepcopy(self._ledger.find(i)) for i in ids]

    def api_calls(self) -> dict[str, int]:
        """Requests served, by endpoint (``"POST /v1/invoices/{id}/pay"``)."""
        with self._lock:
            return dict(self._front.calls)

    def events_sent(self) -> dict[str, int]:
        """Events rendered so far, by type (delivered, or queued while webhooks are held)."""
        with self._lock:
            return dict(self._outbox.counts)

    @property
    def audit(self) -> ChargeAudit:
        """Every charge attempt the fake ran, with the invoice's and the subscription's status
        just before it: the independent ledger a chaos run compares with the engine's records."""
        return self._charging.audit

    @property
    def world_charges(self) -> int:
        """How many times the World was asked to charge."""
        with self._lock:
            return self._charging.world_charges

    def _copy(self, object_id: str, kind: str) -> dict[str, Any]:
        with self._lock:
            found = self._ledger.find(object_id)
            if found is None or found["object"] != kind:
                raise KeyError(f"no {kind} {object_id!r}")
            return copy.deepcopy(found)
