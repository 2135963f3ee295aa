"""The sandbox's message channel: every message the engine sends is told to the World."""

from __future__ import annotations

from recovery.messaging.notifier import OutgoingMessage
from recovery.sandbox.world.contract import Message, World

WORLD_KINDS = {"payment_failed", "card_update_request", "authentication_required",
               "final_notice", "offer", "card_expiring", "payment_recovered"}
# The engine's kinds the World's fixed list lacks, told as the closest kind it knows: a reminder
# says again that the payment failed and how to fix it.
AS_WORLD_KIND = {"reminder": "payment_failed"}


class WorldChannel:
    def __init__(self, world: World, fake_stripe) -> None:
        self.world = world
        self.fake_stripe = fake_stripe
        self.sent = 0

    def deliver(self, message: OutgoingMessage) -> None:
        subscriber = self.fake_stripe.subscriber_for_customer(message.customer_id or "")
        if subscriber is None:
            return
        kind = AS_WORLD_KIND.get(message.kind, message.kind)
        kind = kind if kind in WORLD_KINDS else "other"
        self.world.message(Message(subscriber_id=subscriber, invoice_id=message.invoice_id,
                                   kind=kind, channel=message.channel, sent_at=message.sent_at))
        self.sent += 1
