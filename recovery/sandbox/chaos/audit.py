"""The end-of-run audit: the fake Stripe's own ledger of charges against the engine's records.

``audit_charges`` is pure: it takes the fake's ``AuditEntry`` list and the engine's attempts (read
by ``engine_attempts``) and counts what must never happen: an invoice paid twice, a charge of an
invoice that was already paid, voided or written off, or of a canceled subscription's invoice,
an attempt the card networks forbid, and charges one side knows and the other does not.

The network rules are judged here from the ledger alone, on purpose without ``recovery.rules``:
an audit that reused the engine's own rules could not catch their mistakes (``breaches_of``).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, select

from models import ChargeAttempt
from recovery.sandbox.fake_stripe.audit import AuditEntry

SETTLED_STATUSES = frozenset({"paid", "void", "uncollectible"})
ENGINE_KIND = "manual"  # the engine's own attempts: POST /v1/invoices/{id}/pay
STRIPE_KINDS = frozenset({"first", "automatic"})
# The customer's own payment on the hosted page is customer-initiated: Visa counts those apart
# from merchant-initiated reattempts (reference section 2), so it is never judged as one.
CUSTOMER_KIND = "on_session"

# --- network rules (shared/reference/stripe-and-card-networks.md) ---------------------------
WINDOW = timedelta(days=30)
VISA_REATTEMPTS = 20  # section 2: Visa Core Rules (18 Apr 2026) Table 7-2, per card per 30 days
MASTERCARD_ATTEMPTS = 35  # section 2: Mastercard Excessive Authorization Attempts, per 30 days
VISA_CATEGORY_1 = frozenset({"04", "07", "12", "14", "15", "41", "43", "46", "57",
                             "R0", "R1", "R3"})  # section 2: issuer will never approve
MASTERCARD_STOP = frozenset({"03", "21"})  # section 2: MAC do not try again / cancelled
MASTERCARD_WAIT = {  # section 2: MAC 24-30, retry no earlier than
    "24": timedelta(hours=1), "25": timedelta(hours=24), "26": timedelta(days=2),
    "27": timedelta(days=4), "28": timedelta(days=6), "29": timedelta(days=8),
    "30": timedelta(days=10),
}
# Section 1.3, class STOP (never retry this payment method; the "→ NEW_PM" ones included).
STOP_DECLINE_CODES = frozenset({
    "do_not_try_again", "fraudulent", "invalid_account", "lost_card", "merchant_blacklist",
    "pickup_card", "restricted_card", "revocation_of_all_authorizations",
    "revocation_of_authorization", "security_violation", "stolen_card", "stop_payment_order",
    "testmode_decline",
})
DO_NOT_TRY_AGAIN = "do_not_try_again"  # section 1.2 advice code


@dataclass(frozen=True)
class EngineAttempt:
    """One row of the engine's ``charge_attempt`` table, as the audit needs it."""

    charge_id: str | None
    invoice_id: str | None
    at: datetime
    succeeded: bool
    by: str  # stripe | engine
    card_fingerprint: str | None = None
    action_id: int | None = None


@dataclass(frozen=True)
class Breach:
    """An attempt the networks forbid: ``rule`` names it, ``cause`` is the earlier attempt
    whose answer forbade it (None for a cap)."""

    entry: AuditEntry
    rule: str
    cause: AuditEntry | None = None


@dataclass(frozen=True)
class AuditReport:
    attempts: int
    paid_charges: int
    max_paid_per_invoice: int
    max_attempts_per_invoice: int
    invoices_paid_more_than_once: tuple[str, ...]
    charges_of_settled_invoices: tuple[AuditEntry, ...]  # paid, void or uncollectible before
    charges_of_canceled_subscriptions: tuple[AuditEntry, ...]
    breaches: tuple[Breach, ...]
    engine_charges_unrecorded: tuple[AuditEntry, ...]  # the engine's pay calls it never recorded
    stripe_declines_unrecorded: tuple[AuditEntry, ...]  # Stripe's declines it never recorded
    engine_successes_unmatched: tuple[EngineAttempt, ...]  # successes the ledger lacks

    @property
    def engine_breaches(self) -> tuple[Breach, ...]:
        return tuple(b for b in self.breaches if b.entry.kind == ENGINE_KIND)

    def breaches_by_rule(self) -> Counter[str]:
        return Counter(breach.rule for breach in self.breaches)

    @property
    def clean(self) -> bool:
        """No money-safety failure: what a chaos run must end with."""
        return not (self.invoices_paid_more_than_once or self.charges_of_settled_invoices
                    or self.charges_of_canceled_subscriptions or self.engine_breaches
                    or self.engine_charges_unrecorded or self.engine_successes_unmatched)

    def rows(self) -> list[tuple[str, int]]:
        """(label, value) pairs for a printed table."""
        return [
            ("charge attempts (fake Stripe ledger)", self.attempts),
            ("successful charges", self.paid_charges),
            ("successful charges per invoice (max)", self.max_paid_per_invoice),
            ("attempts per invoice (max)", self.max_attempts_per_invoice),
            ("invoices charged successfully more than once",
             len(self.invoices_paid_more_than_once)),
            ("charges of paid, void or uncollectible invoices",
             len(self.charges_of_settled_invoices)),
            ("charges of canceled subscriptions' invoices",
             len(self.charges_of_canceled_subscriptions)),
            ("network-rule breaches by the engine's pay calls", len(self.engine_breaches)),
            ("network-rule breaches, every attempt", len(self.breaches)),
            ("engine charges missing from its records", len(self.engine_charges_unrecorded)),
            ("Stripe declines missing from its records", len(self.stripe_declines_unrecorded)),
            ("engine successes missing from the ledger", len(self.engine_successes_unmatched)),
        ]


def engine_attempts(session: Session, account_id: str | None = None) -> list[EngineAttempt]:
    """Every row of ``charge_attempt`` (of one account, when given), oldest first."""
    query = select(ChargeAttempt).order_by(ChargeAttempt.attempted_at, ChargeAttempt.id)
    if account_id is not None:
        query = query.where(ChargeAttempt.account_id == account_id)
    return [EngineAttempt(charge_id=row.stripe_charge_id, invoice_id=row.stripe_invoice_id,
                          at=row.attempted_at, succeeded=row.succeeded, by=row.by,
                          card_fingerprint=row.card_fingerprint, action_id=row.action_id)
            for row in session.exec(query)]


def audit_charges(audit_entries: Iterable[AuditEntry], engine: Iterable[EngineAttempt], *,
                  match_window: timedelta = timedelta(days=2)) -> AuditReport:
    """Compare the ledger with the engine's attempts.

    Charges of settled invoices and of canceled subscriptions count every attempt but the
    customer's own (``on_session``). An engine attempt is matched to the ledger by charge id;
    one without a charge id, to the nearest unmatched ledger attempt on the same invoice with
    the same result, at most ``match_window`` away.
    """
    entries = sorted(audit_entries, key=lambda entry: entry.at)
    paid = Counter(entry.invoice_id for entry in entries if entry.paid)
    tried = Counter(entry.invoice_id for entry in entries)
    known, unmatched = _match(entries, list(engine), match_window)
    # A customer may pay an open invoice of a canceled subscription on the hosted page: that is
    # the customer's doing, not a charge anyone should have held back.
    merchant = [entry for entry in entries if entry.kind != CUSTOMER_KIND]
    unknown = [entry for entry in entries if entry.charge_id not in known]
    return AuditReport(
        attempts=len(entries),
        paid_charges=sum(paid.values()),
        max_paid_per_invoice=max(paid.values(), default=0),
        max_attempts_per_invoice=max(tried.values(), default=0),
        invoices_paid_more_than_once=tuple(sorted(i for i, n in paid.items() if n > 1)),
        charges_of_settled_invoices=tuple(
            e for e in merchant if e.invoice_status_before in SETTLED_STATUSES),
        charges_of_canceled_subscriptions=tuple(
            e for e in merchant if e.subscription_status == "canceled"),
        breaches=tuple(breaches_of(entries)),
        engine_charges_unrecorded=tuple(e for e in unknown if e.kind == ENGINE_KIND),
        stripe_declines_unrecorded=tuple(
            e for e in unknown if e.kind in STRIPE_KINDS and not e.paid),
        engine_successes_unmatched=tuple(unmatched),
    )


def _match(entries: Sequence[AuditEntry], engine: Sequence[EngineAttempt],
           window: timedelta) -> tuple[set[str], list[EngineAttempt]]:
    """The ledger charge ids the engine knows, and the engine's successes the ledger lacks."""
    by_charge = {entry.charge_id: entry for entry in entries}
    known = {a.charge_id for a in engine if a.charge_id in by_charge}
    unmatched = [a for a in engine if a.succeeded and a.charge_id is not None
                 and a.charge_id not in by_charge]
    by_invoice: dict[str, list[AuditEntry]] = defaultdict(list)
    for entry in entries:
        by_invoice[entry.invoice_id].append(entry)
    for attempt in engine:
        if attempt.charge_id is not None:
            continue
        candidates = [e for e in by_invoice.get(attempt.invoice_id or "", ())
                      if e.charge_id not in known and e.paid == attempt.succeeded
                      and abs(e.at - attempt.at) <= window]
        if candidates:
            known.add(min(candidates, key=lambda e: abs(e.at - attempt.at)).charge_id)
        elif attempt.succeeded:
            unmatched.append(attempt)
    return known, unmatched


def breaches_of(entries: Iterable[AuditEntry]) -> list[Breach]:
    """Attempts the card networks forbid, judged per card (fingerprint) from the ledger alone,
    after shared/reference/stripe-and-card-networks.md:

    - no attempt on a card after an answer that says never: advice ``do_not_try_again``
      (section 1.2) or a STOP-class decline code (section 1.3);
    - Visa: no reattempt within 30 days of a Category 1 decline; at most 20 reattempts (attempts
      within 30 days after a decline) per rolling 30 days (section 2);
    - Mastercard: no attempt within 30 days of MAC 03 or 21; none before the wait of MAC 24-30;
      at most 35 attempts per rolling 30 days (section 2).

    An invoice's attempts on a card are a subset of the card's, so the per-card caps bound
    every invoice too. Customer-initiated payments (``on_session``) are neither judged nor
    counted (section 2: Visa counts them apart). Each attempt is reported once, for the first
    rule it breaks.
    """
    by_card: dict[str, list[AuditEntry]] = defaultdict(list)
    for entry in entries:
        if entry.card_fingerprint and entry.kind != CUSTOMER_KIND:
            by_card[entry.card_fingerprint].append(entry)
    found: list[Breach] = []
    for attempts in by_card.values():
        attempts.sort(key=lambda entry: entry.at)
        reattempts = [_is_reattempt(entry, attempts[:index])
                      for index, entry in enumerate(attempts)]
        for index, entry in enumerate(attempts):
            breach = _judge(entry, attempts[:index], reattempts[:index + 1])
            if breach is not None:
                found.append(breach)
    return sorted(found, key=lambda breach: breach.entry.at)


def _judge(entry: AuditEntry, earlier: Sequence[AuditEntry],
           reattempts: Sequence[bool]) -> Breach | None:
    """The first rule ``entry`` breaks, given the card's ``earlier`` attempts, oldest first,
    and which of them and of ``entry`` (last) are reattempts."""
    brand = (entry.brand or "").lower()
    recent = [e for e in earlier if entry.at - e.at < WINDOW]
    for before in (e for e in earlier if not e.paid):
        if before.advice_code == DO_NOT_TRY_AGAIN:
            return Breach(entry, "after advice do_not_try_again", before)
        if before.decline_code in STOP_DECLINE_CODES:
            return Breach(entry, f"after STOP decline {before.decline_code}", before)
    for before in (e for e in recent if not e.paid):
        if brand == "visa" and before.network_decline_code in VISA_CATEGORY_1:
            return Breach(entry, "Visa category 1 reattempt", before)
        if brand == "mastercard" and before.network_advice_code in MASTERCARD_STOP:
            return Breach(entry, f"after Mastercard MAC {before.network_advice_code}", before)
        wait = MASTERCARD_WAIT.get(before.network_advice_code or "")
        if brand == "mastercard" and wait is not None and entry.at - before.at < wait:
            return Breach(entry, f"before Mastercard MAC {before.network_advice_code} wait",
                          before)
    if brand == "visa" and reattempts[-1]:
        in_window = reattempts[len(earlier) - len(recent):]  # ``recent`` is a suffix
        if sum(in_window) > VISA_REATTEMPTS:
            return Breach(entry, f"Visa more than {VISA_REATTEMPTS} reattempts in 30 days")
    if brand == "mastercard" and len(recent) + 1 > MASTERCARD_ATTEMPTS:
        return Breach(entry, f"Mastercard more than {MASTERCARD_ATTEMPTS} attempts in 30 days")
    return None


def _is_reattempt(entry: AuditEntry, earlier: Sequence[AuditEntry]) -> bool:
    """An attempt made within 30 days after a decline on the same card."""
    return any(not e.paid and entry.at - e.at < WINDOW for e in earlier)
