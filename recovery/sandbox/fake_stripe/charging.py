"""Charging invoices in the fake Stripe: every attempt (Stripe's first automatic one, its scheduled
retries, the engine's ``pay`` calls, and on-session payments) and Stripe's own retry schedule.

The World decides each charge; this module records what Stripe records (charge, payment intent,
invoice payment, invoice counters, subscription status) and emits the events Stripe sends. It
never creates invoices or changes customers.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

from recovery.sandbox.fake_stripe import payments as shapes
from recovery.sandbox.fake_stripe.audit import AuditEntry, ChargeAudit
from recovery.sandbox.fake_stripe.errors import StripeApiError, invalid_request
from recovery.sandbox.fake_stripe.events import EventOutbox
from recovery.sandbox.fake_stripe.ledger import Ledger, unix
from recovery.sandbox.world.checks import WorldContractError, check_charge_result
from recovery.sandbox.world.contract import ChargeResult, World

Origin = tuple[str | None, str | None]
STRIPE = (None, None)  # events Stripe sends on its own, not in answer to an API request


class Kind(Enum):
    FIRST = "first"  # the renewal's automatic attempt
    AUTOMATIC = "automatic"  # a retry from Stripe's schedule
    MANUAL = "manual"  # POST /v1/invoices/{id}/pay
    ON_SESSION = "on_session"  # the customer paid on the hosted invoice page


@dataclass
class Dunning:
    """Stripe's retry bookkeeping for one invoice."""

    first_failed_at: datetime | None = None
    retries_run: int = 0
    due_at: datetime | None = None


@dataclass(frozen=True)
class Attempt:
    paid: bool
    charge: dict[str, Any]
    error: dict[str, Any] | None  # the 402 card error of a failed attempt


class Charging:
    def __init__(self, ledger: Ledger, world: World, outbox: EventOutbox, *,
                 subscriber_of: Mapping[str, str], retry_days: Sequence[float],
                 emit_success_events: bool, audit: ChargeAudit | None = None) -> None:
        self._ledger = ledger
        self.audit = audit if audit is not None else ChargeAudit()
        self._world = world
        self._outbox = outbox
        self._subscriber_of = subscriber_of  # customer id -> World subscriber id
        self._offsets = [timedelta(days=days) for days in retry_days]
        self._emit_success = emit_success_events
        self._dunning: dict[str, Dunning] = {}
        self._heap: list[tuple[int, str]] = []  # (due unix time, invoice id); stale entries skipped
        self.charges_of: dict[str, list[str]] = defaultdict(list)  # invoice id -> charge ids
        self.payment_of: dict[str, str] = {}  # invoice id -> its invoice payment id
        self.world_charges = 0
        # The first charge result the World got wrong. A charge made inside an API call would
        # otherwise reach the engine only as a failed request; the driver raises it instead.
        self.world_error: WorldContractError | None = None

    # --- attempts ---------------------------------------------------------------------------

    def attempt(self, invoice: dict[str, Any], method: dict[str, Any], *, kind: Kind,
                origin: Origin = STRIPE) -> Attempt:
        """Ask the World to charge ``method`` for the invoice and record what happened."""
        fingerprint = method["card"]["fingerprint"]
        subscriber_id = self._subscriber_of[invoice["customer"]]
        answer = self._world.charge(subscriber_id, invoice["id"], fingerprint,
                                    invoice["amount_due"], invoice["currency"],
                                    self._ledger.clock.now())
        self.world_charges += 1
        try:
            result = check_charge_result(answer)
        except WorldContractError as breach:
            self.world_error = self.world_error or breach
            raise
        return self.record(invoice, method, result, kind=kind, origin=origin)

    def record(self, invoice: dict[str, Any], method: dict[str, Any], result: ChargeResult, *,
               kind: Kind, origin: Origin) -> Attempt:
        """The one place every attempt passes: charge, intent, invoice counters, events, and
        the audit entry (taken before the invoice changes)."""
        intent, payment = self._intent_for(invoice, method)
        charge = self._ledger.add(shapes.charge(
            self._ledger.new_id("ch", invoice["id"]), invoice=invoice, method=method,
            intent_id=intent["id"], result=result, created=self._ledger.now()))
        self.charges_of[invoice["id"]].append(charge["id"])
        self.audit.record(self._audit_entry(invoice, method, charge, result, kind, origin))
        shapes.record_attempt(intent, charge_obj=charge, result=result, method=method)
        # The schedule counts the first attempt of any kind, then only its own retries.
        if kind in (Kind.FIRST, Kind.AUTOMATIC) or not invoice["attempted"]:
            invoice["attempt_count"] += 1
        invoice["attempted"] = True
        if result.paid:
            self._paid(invoice, payment, kind, origin)
            return Attempt(True, charge, None)
        self._failed(invoice, charge, result, kind, origin)
        return Attempt(False, charge, {**intent["last_payment_error"], "payment_intent": intent})

    def _audit_entry(self, invoice: dict[str, Any], method: dict[str, Any],
                     charge: dict[str, Any], result: ChargeResult, kind: Kind,
                     origin: Origin) -> AuditEntry:
        sub_id = invoice["parent"]["subscription_details"]["subscription"]
        sub = self._ledger.find(sub_id) if sub_id else None
        card = method.get("card") or {}
        return AuditEntry(
            charge_id=charge["id"], invoice_id=invoice["id"], subscription_id=sub_id,
            customer_id=invoice["customer"], card_fingerprint=card.get("fingerprint"),
            payment_method_id=method["id"], brand=card.get("brand"),
            amount=charge["amount"], currency=charge["currency"],
            at=self._ledger.clock.now(), kind=kind.value, paid=result.paid,
            failure_code=None if result.paid else result.failure_code or "card_declined",
            decline_code=result.decline_code, advice_code=result.advice_code,
            network_decline_code=result.network_decline_code,
            network_advice_code=result.network_advice_code,
            invoice_status_before=invoice["status"],
            subscription_status=sub["status"] if sub is not None else None,
            idempotency_key=origin[1],
        )

    def pay_on_session(self, invoice: dict[str, Any], method: dict[str, Any]) -> None:
        """The customer paid on the hosted page: the World already decided, so it is not asked."""
        self.record(invoice, method, ChargeResult(paid=True), kind=Kind.ON_SESSION,
                    origin=STRIPE)

    def settle_without_charge(self, invoice: dict[str, Any]) -> None:
        """A zero-amount invoice is paid at finalization; no payment is made."""
        invoice["attempted"] = True
        self._paid(invoice, None, Kind.FIRST, STRIPE)

    def cancel_payment(self, invoice: dict[str, Any]) -> None:
        """Voiding an invoice cancels its payment intent and invoice payment."""
        payment_id = self.payment_of.get(invoice["id"])
        if payment_id is None:
            return
        now = self._ledger.now()
        payment = self._ledger.find(payment_id)
        payment["status"] = "canceled"
        payment["status_transitions"]["canceled_at"] = now
        intent = self._ledger.find(payment["payment"]["payment_intent"])
        intent.update(status="canceled", canceled_at=now, cancellation_reason="void_invoice",
                      next_action=None)

    def _intent_for(self, invoice: dict[str, Any],
                    method: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """The invoice's one payment intent and invoice payment, made on the first attempt;
        Stripe reuses them for every retry and records each try as a new charge."""
        payment_id = self.payment_of.get(invoice["id"])
        if payment_id is not None:
            payment = self._ledger.find(payment_id)
            return self._ledger.find(payment["payment"]["payment_intent"]), payment
        now = self._ledger.now()
        intent = self._ledger.add(shapes.payment_intent(
            self._ledger.new_id("pi", invoice["id"]), invoice=invoice, method_id=method["id"],
            created=now))
        payment = self._ledger.add(shapes.invoice_payment(
            self._ledger.new_id("inpay", invoice["id"]), invoice=invoice,
            intent_id=intent["id"], created=now))
        self.payment_of[invoice["id"]] = payment["id"]
        return intent, payment

    def _paid(self, invoice: dict[str, Any], payment: dict[str, Any] | None, kind: Kind,
              origin: Origin) -> None:
        now = self._ledger.now()
        invoice.update(status="paid", amount_paid=invoice["amount_due"], amount_remaining=0,
                       next_payment_attempt=None)
        invoice["status_transitions"]["paid_at"] = now
        if payment is not None:
            payment.update(status="paid", amount_paid=invoice["amount_due"])
            payment["status_transitions"]["paid_at"] = now
        self._dunning.pop(invoice["id"], None)
        # Healthy renewals are the bulk of a simulation; their events are optional.
        if kind is not Kind.FIRST or self._emit_success:
            self._outbox.emit("invoice.paid", invoice, request=origin)
        if kind is not Kind.FIRST:
            self._outbox.emit("invoice.payment_succeeded", invoice, request=origin)
        self._subscription_status(invoice, "past_due", "active", origin)

    def _failed(self, invoice: dict[str, Any], charge: dict[str, Any], result: ChargeResult,
                kind: Kind, origin: Origin) -> None:
        dunning = self._dunning.setdefault(invoice["id"], Dunning())
        if dunning.first_failed_at is None:
            dunning.first_failed_at = self._ledger.clock.now()
        elif kind is Kind.AUTOMATIC:
            dunning.retries_run += 1
        if kind is not Kind.MANUAL:
            self.schedule(invoice)  # a manual pay does not move Stripe's schedule
        self._outbox.emit("charge.failed", charge, request=origin)
        self._outbox.emit("invoice.payment_failed", invoice, request=origin)
        if shapes.needs_authentication(result):
            self._outbox.emit("invoice.payment_action_required", invoice, request=origin)
        self._subscription_status(invoice, "active", "past_due", origin)

    def _subscription_status(self, invoice: dict[str, Any], before: str, after: str,
                             origin: Origin) -> None:
        sub = self._ledger.find(invoice["parent"]["subscription_details"]["subscription"])
        if sub is None or sub["status"] != before:
            return
        sub["status"] = after
        self._outbox.emit("customer.subscription.updated", sub,
                          previous={"status": before}, request=origin)

    # --- Stripe's retry schedule ------------------------------------------------------------

    def schedule(self, invoice: dict[str, Any]) -> None:
        """Set ``next_payment_attempt`` from the schedule: retry k runs ``retry_days[k]`` after
        the first failure. Null once the schedule is spent or collection is not automatic."""
        dunning = self._dunning.get(invoice["id"])
        due = None
        started = dunning is not None and dunning.first_failed_at is not None
        if started and dunning.retries_run < len(self._offsets):
            due = dunning.first_failed_at + self._offsets[dunning.retries_run]
        active = due is not None and invoice["auto_advance"] and invoice["status"] == "open"
        if dunning is not None:
            dunning.due_at = due if active else None
        invoice["next_payment_attempt"] = unix(due) if active else None
        if active:
            heapq.heappush(self._heap, (unix(due), invoice["id"]))

    def unschedule(self, invoice: dict[str, Any]) -> None:
        dunning = self._dunning.get(invoice["id"])
        if dunning is not None:
            dunning.due_at = None
        invoice["next_payment_attempt"] = None

    def run_due(self, card_on_file: Callable[[dict[str, Any]], dict[str, Any]]) -> int:
        """Run every automatic retry whose time has come; cheap when none is due."""
        now, ran = self._ledger.now(), 0
        while self._heap and self._heap[0][0] <= now:
            due, invoice_id = heapq.heappop(self._heap)
            invoice = self._ledger.find(invoice_id)
            dunning = self._dunning.get(invoice_id)
            if invoice is None or dunning is None or dunning.due_at is None:
                continue
            if unix(dunning.due_at) != due or invoice["status"] != "open":
                continue  # rescheduled or closed since this entry was pushed
            dunning.due_at = None
            try:
                method = card_on_file(invoice)
            except StripeApiError:
                continue  # no card to charge: Stripe skips the retry
            self.attempt(invoice, method, kind=Kind.AUTOMATIC)
            ran += 1
        return ran

    def next_due(self) -> datetime | None:
        """When the earliest scheduled retry is due (it may be stale)."""
        if not self._heap:
            return None
        return datetime.fromtimestamp(self._heap[0][0], tz=UTC)


def require_open(invoice: dict[str, Any]) -> None:
    """Stripe only pays an open invoice; it answers anything else with a 400."""
    status = invoice["status"]
    if status == "open":
        return
    if status == "paid":
        raise invalid_request("Invoice is already paid", code="invoice_not_open")
    raise invalid_request(
        f"This invoice can no longer be paid: its status is {status}.", code="invoice_not_open")
