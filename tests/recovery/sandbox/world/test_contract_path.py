"""Worlds written against the contract's earlier import path keep loading."""

from __future__ import annotations

import importlib


def test_the_earlier_path_gives_the_very_same_contract_classes():
    earlier = importlib.import_module("recovery.simulation.world")
    current = importlib.import_module("recovery.sandbox.world")
    for name in ("World", "Card", "Subscriber", "ChargeResult", "CardUpdated", "PaidOnSession",
                 "OfferAccepted", "Cancelled", "Message", "Offer"):
        assert getattr(earlier, name) is getattr(current, name), name
