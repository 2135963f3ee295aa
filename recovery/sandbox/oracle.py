"""The oracle row of ``--compare``: a scorer that looks at the built-in world's future.

For each retry decision it asks the world, without changing anything
(``BuiltinWorld.would_succeed``), whether a charge at each allowed hour would go through, and
retries at the first hour that would; when no allowed hour in the window would, it keeps the card
untouched. It sees what no real scorer can (the account's balance, the issuer's hold), so its
recovery rate bounds what better timing alone could reach under the same rules, budget and
window. Nothing but the oracle row uses it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from recovery.rules.local_time import from_epoch_hour
from recovery.rules.policy import Choice, RetryQuestion
from recovery.sandbox.fake_stripe.fake import FakeStripe

VERSION = "oracle"


class OracleScorer:
    """Retries at the first allowed hour the world would accept (see the module's docstring)."""

    version = VERSION

    def __init__(self, world: Any, fake: FakeStripe) -> None:
        if not hasattr(world, "would_succeed"):
            raise TypeError("the oracle needs a world that can look ahead (would_succeed)")
        self._world = world
        self._fake = fake
        self._invoice_of: dict[int, str] = {}  # case id -> Stripe invoice id

    def prepare(self, session: Any, cases: Sequence[Any], now: datetime) -> None:
        self._invoice_of = {case.id: case.stripe_invoice_id for case in cases}

    def choose(self, question: RetryQuestion, candidates: Any) -> Choice:
        return self.choose_many([question])[0]

    def choose_many(self, questions: Sequence[RetryQuestion]) -> list[Choice]:
        return [self._first_success(question) for question in questions]

    def _first_success(self, question: RetryQuestion) -> Choice:
        invoice = self._fake.invoice(self._invoice_of[question.context.case_id])
        subscriber = self._fake.subscriber_for_customer(invoice["customer"])
        fingerprint = question.context.card_fingerprint
        if subscriber is not None and fingerprint:
            for hour in question.candidates:
                at = from_epoch_hour(hour)
                if self._world.would_succeed(subscriber, invoice["id"], fingerprint,
                                             invoice["amount_due"], invoice["currency"], at):
                    return Choice(at, 1.0, "oracle: the first allowed hour the world would "
                                  "accept", {"source": VERSION}, VERSION)
        return Choice(None, 1.0, "oracle: no allowed hour in the window would succeed",
                      {"source": VERSION}, VERSION)
