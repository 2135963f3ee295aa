"""The World contract under its earlier import path; see ``recovery.sandbox.world.contract``."""

from recovery.sandbox.world.contract import (  # noqa: F401 - re-exported names
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
