"""The sandbox's message channel: every message the engine sends is told to the World.

A message that carries an offer reaches the World twice: as the message it is (a reminder, the
final notice), and as an ``offer`` message with the offer's terms, which is how the World's
contract presents an offer to a customer. Each keeps its own meaning, so customers react to the
notice as a notice and weigh the offer as an offer.
"""

from __future__ import annotations

import logging

from recovery.messaging.notifier import MessageOffer, OutgoingMessage
from recovery.sandbox.world.contract import Message, Offer, World

log = logging.getLogger("recovery.sandbox")
WORLD_KINDS = {"payment_failed", "card_update_request", "authentication_required",
               "final_notice", "offer", "card_expiring", "payment_recovered"}
# The engine's kinds the World's fixed list lacks, told as the closest kind it knows: a reminder
# says again that the payment failed and how to fix it.
AS_WORLD_KIND = {"reminder": "payment_failed"}


def world_offer(offer: MessageOffer | None) -> Offer | None:
    if offer is None:
        return None
    return Offer(kind=offer.kind, percent_off=offer.percent_off, months=offer.months)


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
        offer = world_offer(message.offer)
        if kind != "offer":
            self.world.message(Message(subscriber_id=subscriber, invoice_id=message.invoice_id,
                                       kind=kind, channel=message.channel,
                                       sent_at=message.sent_at))
        if offer is not None or kind == "offer":
            self.world.message(Message(subscriber_id=subscriber, invoice_id=message.invoice_id,
                                       kind="offer", channel=message.channel,
                                       sent_at=message.sent_at, offer=offer))
        self.sent += 1


class BothChannels:
    """Hands each message to the World and to a second channel (the offline engine's outbox
    folder): the World's delivery decides, the copy is best effort."""

    def __init__(self, world_channel: WorldChannel, copy) -> None:
        self.world_channel = world_channel
        self.copy = copy

    def deliver(self, message: OutgoingMessage) -> None:
        self.world_channel.deliver(message)
        try:
            self.copy.deliver(message)
        except Exception:  # noqa: BLE001 - a copy for people to read must not fail a send
            log.warning("could not write the message's copy", exc_info=True,
                        extra={"message_id": message.message_id})
