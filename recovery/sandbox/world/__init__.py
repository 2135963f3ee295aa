"""Simulated customers and issuers behind the World contract (``contract``), and the built-in
worlds (``builtin``).
"""

from recovery.sandbox.world.contract import (  # noqa: F401 - the contract, re-exported
    Cancelled,
    Card,
    CardUpdated,
    ChargeResult,
    CustomerAction,
    Message,
    Offer,
    OfferAccepted,
    PaidOnSession,
    Subscriber,
    World,
)
