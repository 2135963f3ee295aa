"""The seeded plan of a chaos run: which faults happen, how often, and the keyed draws that decide
each one, so a run is reproducible from its seed alone.

Every decision is a keyed draw (``draw(*parts)``): a hash of the seed and of what the decision is
about (an event id, a request's idempotency key and how often this process has sent it), never a
shared random stream, so whether one request fails does not depend on how many others came before.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import timedelta

from recovery.sandbox.world.keyed_random import unit

# Faults one API request may meet (at most one each); their shares add up to the chance that a
# request goes wrong at all. The kill points apply to invoice pay calls only.
API_FAULTS = (
    "rate_limited", "server_error_before", "reset_before",
    "server_error_after", "timeout_after", "reset_after",
)
KILL_POINTS = ("kill_before_charge", "kill_after_charge")


@dataclass(frozen=True)
class ChaosPlan:
    """The faults of one chaos run. Shares are probabilities per event, per request or per batch.

    The defaults give a 2,000-subscriber, 90-day run dozens of every fault. Each send of a
    request meets its own draw. The engine's gateway makes no SDK-level retries
    (``max_network_retries=0``); it sends a request that is safe to repeat (a read, a keyed POST)
    again at once, twice at most, and a fault that outlasts that, or a 5xx on a keyed call (Stripe
    keeps a 5xx under its key), or any fault on a DELETE, reaches the engine as
    ``GatewayUnavailable``: the action is tried again later, with the same idempotency key after
    a 429, a timeout or a reset, under a new one after a 5xx. The faults "after" a request
    therefore test that a charge made but never reported is neither lost nor made twice.
    """

    seed: int

    # --- webhooks (ChaoticDelivery) ---------------------------------------------------------
    # Share of events delivered more than once: 2 or 3 copies in all (Stripe promises
    # at-least-once delivery, https://docs.stripe.com/webhooks#handle-duplicate-events).
    duplicate_share: float = 0.30
    # Share of events delivered late, each copy at a uniform time up to ``max_delay`` after the
    # event, as when Stripe retries an endpoint that failed (with backoff, for up to 3 days,
    # https://docs.stripe.com/webhooks#automatic-retries).
    delay_share: float = 0.05
    max_delay: timedelta = timedelta(days=3)
    # Events due at the same moment go out in a seeded shuffled order (Stripe does not guarantee
    # the order of events, https://docs.stripe.com/webhooks#event-ordering).
    reorder: bool = True
    # Share of events sent again long after they were delivered: once re-signed (a legitimate
    # redelivery, as from the Dashboard's "resend"), once with the original, by then stale,
    # signature (a captured request replayed by someone else, which the receiver must refuse).
    replay_share: float = 0.02
    # A delivery the receiver did not accept (non-2xx) is sent again this much later.
    redelivery_wait: timedelta = timedelta(hours=1)

    # --- Stripe API calls (ChaoticTransport) ------------------------------------------------
    # 429 before anything is done (https://docs.stripe.com/rate-limits).
    rate_limited_share: float = 0.03
    # 500 before anything is done.
    server_error_before_share: float = 0.03
    # The request ran in full, but the answer is replaced by a 500.
    server_error_after_share: float = 0.03
    # The request ran in full, then the read timed out (httpx.ReadTimeout).
    timeout_after_share: float = 0.03
    # The connection failed before the request was sent (httpx.ConnectError).
    reset_before_share: float = 0.03
    # The request ran in full, then the connection dropped (httpx.RemoteProtocolError).
    reset_after_share: float = 0.03
    # Shares of ``POST /v1/invoices/{id}/pay`` calls at which the worker process dies (SIGKILL):
    # before the request is sent, or after its answer arrived but before the caller sees it
    # (the charge is made; nothing of it is committed).
    kill_before_charge_share: float = 0.02
    kill_after_charge_share: float = 0.02

    # --- database (the chaos driver) --------------------------------------------------------
    # Share of worker batches during which the driver drops a PostgreSQL connection.
    connection_drop_share: float = 0.05

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            if field.name.endswith("_share"):
                value = getattr(self, field.name)
                if not 0.0 <= value <= 1.0:
                    raise ValueError(f"{field.name} must be between 0 and 1, not {value}")
        if self.max_delay < timedelta(0):
            raise ValueError("max_delay must not be negative")
        if self.redelivery_wait <= timedelta(0):
            raise ValueError("redelivery_wait must be positive")
        if sum(self.fault_shares(pay=True).values()) > 1.0:
            raise ValueError("the API fault and kill shares add up to more than 1")

    @classmethod
    def calm(cls, seed: int = 0) -> ChaosPlan:
        """A plan without any fault: every share 0, events in order."""
        zeros = {f.name: 0.0 for f in dataclasses.fields(cls) if f.name.endswith("_share")}
        return cls(seed=seed, reorder=False, **zeros)

    def draw(self, *parts: object) -> float:
        """A uniform number in [0, 1) fixed by the seed and ``parts``."""
        return unit(self.seed, *parts)

    def fault_shares(self, *, pay: bool) -> dict[str, float]:
        """Each fault a request may meet and its share, in the order a draw is laid over them;
        the kill points only for invoice pay calls."""
        shares = {name: getattr(self, f"{name}_share") for name in API_FAULTS}
        if pay:
            shares = {name: getattr(self, f"{name}_share") for name in KILL_POINTS} | shares
        return shares

    def pick_fault(self, u: float, *, pay: bool) -> str | None:
        """The fault the uniform ``u`` falls on, or None (most requests)."""
        mark = u
        for name, share in self.fault_shares(pay=pay).items():
            if mark < share:
                return name
            mark -= share
        return None
