"""Checks that what a World hands the sandbox keeps the contract (``contract.py``).

A subscriber, customer action or charge result of a type or value the sandbox does not know is a
clear error (``WorldContractError``), never skipped: a run that quietly dropped part of what its
World said would measure something else than it claims. Codes must be ones Stripe sends.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

from recovery.rules.decline_codes import (
    ADVICE_CODE_RULES,
    DECLINE_CODE_RULES,
    FAILURE_CODE_RULES,
    MAC_INFORMATIONAL,
    MAC_RULES,
    OUTCOME_REASON_RULES,
)
from recovery.sandbox.world.contract import (
    Cancelled,
    CardUpdated,
    ChargeResult,
    OfferAccepted,
    PaidOnSession,
    Subscriber,
)

ACTION_TYPES = (CardUpdated, PaidOnSession, OfferAccepted, Cancelled)
# What Stripe puts in each field of a declined charge.
KNOWN_CODES = {
    "failure_code": frozenset({"card_declined", *FAILURE_CODE_RULES}),
    "decline_code": frozenset({*DECLINE_CODE_RULES, *OUTCOME_REASON_RULES}),
    "advice_code": frozenset(ADVICE_CODE_RULES),
    "network_advice_code": frozenset({*MAC_RULES, *MAC_INFORMATIONAL}),
}
RAW_ISSUER_CODE = re.compile(r"[0-9A-Z]{1,4}")  # "51", "05", "1A", "R1" ...


class WorldContractError(Exception):
    """A World returned something the contract does not allow."""


def _names(types: Iterable[type]) -> str:
    return ", ".join(t.__name__ for t in types)


def check_subscribers(subscribers: Iterable[object]) -> list[Subscriber]:
    checked = list(subscribers)
    for subscriber in checked:
        if not isinstance(subscriber, Subscriber):
            raise WorldContractError(
                f"World.subscribers() returned a {type(subscriber).__name__} "
                f"({subscriber!r}), not a Subscriber")
    return checked


def check_actions(actions: Iterable[object], start: datetime, end: datetime) -> list:
    """The actions of ``[start, end)``: known types, each in the window, in time order."""
    checked = list(actions)
    previous = start
    for action in checked:
        if not isinstance(action, ACTION_TYPES):
            raise WorldContractError(
                f"World.actions() returned a {type(action).__name__} ({action!r}); a customer "
                f"action is one of {_names(ACTION_TYPES)}")
        at = action.at
        if not isinstance(at, datetime) or at.tzinfo is None:
            raise WorldContractError(f"{action!r}: `at` must be an aware datetime")
        if not start <= at < end:
            raise WorldContractError(f"{action!r} is outside the window [{start}, {end})")
        if at < previous:
            raise WorldContractError(f"{action!r} is out of time order")
        previous = at
    return checked


def check_charge_result(result: object) -> ChargeResult:
    """A ``ChargeResult`` whose fields hold values Stripe sends; paid means no decline codes."""
    if not isinstance(result, ChargeResult):
        raise WorldContractError(f"World.charge() returned a {type(result).__name__} "
                                 f"({result!r}), not a ChargeResult")
    if not isinstance(result.paid, bool):
        raise WorldContractError(f"{result!r}: `paid` must be True or False")
    codes = {name: getattr(result, name) for name in (*KNOWN_CODES, "network_decline_code")}
    given = {name: value for name, value in codes.items() if value is not None}
    if result.paid and given:
        raise WorldContractError(f"{result!r}: a paid charge has no decline codes")
    for name, value in given.items():
        known = KNOWN_CODES.get(name)
        if known is not None and (not isinstance(value, str) or value not in known):
            raise WorldContractError(f"{result!r}: unknown {name} {value!r}")
        if known is None and not (isinstance(value, str) and RAW_ISSUER_CODE.fullmatch(value)):
            raise WorldContractError(f"{result!r}: {name} {value!r} is not a raw issuer code")
    return result
