"""Signed, expiring links for customers (unsubscribe, accept an offer), with itsdangerous.

A token is ``URLSafeTimedSerializer`` output signed with ``link_secret`` and a salt per purpose
(an unsubscribe token never opens an offer), and carries a random id. ``open`` refuses a token
that was tampered with (``invalid``), is older than ``max_age`` (``expired``) or, for a
single-use purpose, was opened before (``used``), raising ``LinkRejected``.

Single use is recorded in ``link_use``, unique by token id: the insert is the check, so of two
concurrent clicks only one passes. Unsubscribe links may be opened again until they expire: RFC
8058 lets the mailbox provider repeat its one-click POST, and unsubscribing twice is harmless.
Offer links are single-use. Card-update links may be opened until they expire (each opening
creates a fresh billing-portal session).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import timedelta
from functools import cached_property
from urllib.parse import quote

from itsdangerous import BadData, SignatureExpired, TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import delete
from sqlmodel import Session

from models import LinkUse
from recovery.errors import LinkRejected
from recovery.runtime.clock import Clock, SystemClock
from recovery.runtime.db import DIALECT_INSERTS

UNSUBSCRIBE = "unsubscribe"
OFFER = "offer"
# Stripe's billing-portal sessions are short-lived and meant to be created when the customer
# wants one, so an email carries this link instead: opening it creates the session and redirects.
CARD_UPDATE = "card_update"
LINK_PATHS = {UNSUBSCRIBE: "/links/unsubscribe", OFFER: "/links/offer",
              CARD_UPDATE: "/links/update-card"}
REUSABLE = frozenset({UNSUBSCRIBE, CARD_UPDATE})
MIN_SECRET_LENGTH = 32
USES = LinkUse.__table__


class LinkSigner:
    """``secret``: the key, or a function that returns it on first use (the sandbox's is
    generated into a file only when a link is first made or opened)."""

    def __init__(self, secret: str | Callable[[], str], max_age: timedelta, *,
                 clock: Clock | None = None, reusable: frozenset[str] = REUSABLE) -> None:
        if isinstance(secret, str):
            _check_secret(secret)
        if max_age <= timedelta(0):
            raise ValueError("links need a positive lifetime")
        self._secret_source = secret
        self.max_age = max_age
        self.clock = clock or SystemClock()
        self.reusable = reusable
        self._signer = _clocked_signer(self.clock)

    def __repr__(self) -> str:
        return f"LinkSigner(max_age={self.max_age!r})"

    def make(self, purpose: str, payload: dict) -> str:
        """A token for ``payload`` (JSON-able, with the ``account_id`` it belongs to)."""
        if not isinstance(payload.get("account_id"), str):
            raise ValueError("a link's payload needs the account_id it belongs to")
        return self._serializer(purpose).dumps({"i": secrets.token_urlsafe(16), "p": payload})

    def read(self, purpose: str, token: str) -> dict:
        """The payload of a genuine, unexpired token, without using it up (to show a page)."""
        return self._verified(purpose, token)[1]

    def open(self, purpose: str, token: str, *, session: Session) -> dict:
        """The payload, once the token is checked and its use recorded in ``session`` (the use
        counts when the caller commits; a concurrent open of the same token waits, then fails)."""
        token_id, payload = self._verified(purpose, token)
        dialect_insert = DIALECT_INSERTS[session.get_bind().dialect.name]
        recorded = session.execute(
            dialect_insert(USES).values(account_id=payload["account_id"], token_id=token_id,
                                        purpose=purpose, used_at=self.clock.now())
            .on_conflict_do_nothing().returning(USES.c.id)).scalar()
        if recorded is None and purpose not in self.reusable:
            raise LinkRejected("used", "this link has already been used")
        return payload

    def release(self, purpose: str, token: str, *, session: Session) -> None:
        """Forget a use, so the link works again (its action failed after the use was recorded)."""
        token_id, _ = self._verified(purpose, token)
        session.execute(delete(USES).where(USES.c.token_id == token_id))

    def _verified(self, purpose: str, token: str) -> tuple[str, dict]:
        try:
            content = self._serializer(purpose).loads(
                token, max_age=int(self.max_age.total_seconds()))
        except SignatureExpired:
            raise LinkRejected("expired", "this link has expired") from None
        except (BadData, TypeError, ValueError):  # tampered, malformed, another purpose's
            raise LinkRejected("invalid", "this link is not valid") from None
        if not (isinstance(content, dict) and isinstance(content.get("i"), str)
                and isinstance(content.get("p"), dict)
                and isinstance(content["p"].get("account_id"), str)):
            raise LinkRejected("invalid", "this link is not valid")
        return content["i"], content["p"]

    @cached_property
    def _secret(self) -> str:
        source = self._secret_source
        return source if isinstance(source, str) else _check_secret(source())

    def _serializer(self, purpose: str) -> URLSafeTimedSerializer:
        if purpose not in LINK_PATHS:
            raise ValueError(f"unknown link purpose {purpose!r}")
        return URLSafeTimedSerializer(self._secret, salt=f"recovery.link.{purpose}",
                                      signer=self._signer,
                                      signer_kwargs={"digest_method": hashlib.sha256})


def _check_secret(secret: str) -> str:
    if len(secret) < MIN_SECRET_LENGTH:
        raise ValueError(f"the link secret must be at least {MIN_SECRET_LENGTH} characters")
    return secret


def _clocked_signer(clock: Clock) -> type[TimestampSigner]:
    """itsdangerous reads ``time.time()``; the engine's time is its ``Clock`` (virtual in the
    sandbox and in tests), for the signing time and the age check alike."""

    class ClockedTimestampSigner(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(clock.now().timestamp())

    return ClockedTimestampSigner


def link_url(public_base_url: str, purpose: str, token: str) -> str:
    """The full URL a customer opens, e.g. https://pay.example.com/links/offer?t=..."""
    return f"{public_base_url.rstrip('/')}{LINK_PATHS[purpose]}?t={quote(token, safe='')}"


def unsubscribe_url(signer: LinkSigner, public_base_url: str, account_id: str,
                    customer_id: str) -> str:
    token = signer.make(UNSUBSCRIBE, {"account_id": account_id, "customer_id": customer_id})
    return link_url(public_base_url, UNSUBSCRIBE, token)


def offer_url(signer: LinkSigner, public_base_url: str, account_id: str, offer_id: int) -> str:
    token = signer.make(OFFER, {"account_id": account_id, "offer_id": offer_id})
    return link_url(public_base_url, OFFER, token)


def card_update_url(signer: LinkSigner, public_base_url: str, account_id: str,
                    customer_id: str) -> str:
    token = signer.make(CARD_UPDATE, {"account_id": account_id, "customer_id": customer_id})
    return link_url(public_base_url, CARD_UPDATE, token)
