"""Customers' contact preferences: email unsubscribe and SMS opt-in, read by the contact rules
and the SMS channel. Each function works in the caller's session (the caller commits)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlmodel import Session

from models import ContactPreference
from recovery.runtime.db import DIALECT_INSERTS, SessionFactory

PREFERENCES = ContactPreference.__table__
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


@dataclass(frozen=True)
class ContactPreferences:
    unsubscribed: bool = False  # from email
    sms_opt_in: bool = False
    phone: str | None = None


def preferences_of(session: Session, account_id: str,
                   customer_id: str | None) -> ContactPreferences:
    """The customer's preferences; the defaults (email allowed, no SMS) when they set none."""
    if not customer_id:
        return ContactPreferences()
    row = session.execute(
        select(PREFERENCES.c.email_unsubscribed_at, PREFERENCES.c.sms_opt_in,
               PREFERENCES.c.phone)
        .where(PREFERENCES.c.account_id == account_id,
               PREFERENCES.c.stripe_customer_id == customer_id)).one_or_none()
    if row is None:
        return ContactPreferences()
    return ContactPreferences(unsubscribed=row.email_unsubscribed_at is not None,
                              sms_opt_in=bool(row.sms_opt_in), phone=row.phone)


def unsubscribe(session: Session, account_id: str, customer_id: str, at: datetime) -> None:
    """Stop email to the customer. Idempotent: a repeat keeps the first unsubscribe time (and
    two concurrent ones write one row, through the unique customer key)."""
    _upsert(session, account_id, customer_id, at, {"email_unsubscribed_at": at},
            {"email_unsubscribed_at": func.coalesce(PREFERENCES.c.email_unsubscribed_at, at)})


def set_sms_opt_in(session: Session, account_id: str, customer_id: str, opt_in: bool,
                   phone: str | None, at: datetime) -> None:
    """Record the customer's SMS consent; opting in needs an E.164 phone number (``ValueError``
    otherwise). Opting out keeps the number only if one is given."""
    if phone is not None and not E164.match(phone):
        raise ValueError(f"phone must be in E.164 form (+ and 7 to 15 digits), not {phone!r}")
    if opt_in and phone is None:
        raise ValueError("opting in to SMS needs a phone number")
    values = {"sms_opt_in": opt_in, "phone": phone}
    _upsert(session, account_id, customer_id, at, values, values)


def preferences_reader(sessions: SessionFactory) -> Callable[[str, str | None],
                                                             ContactPreferences]:
    """``preferences_of`` in its own short session, for a channel called outside a transaction."""

    def read(account_id: str, customer_id: str | None) -> ContactPreferences:
        with sessions() as session:
            return preferences_of(session, account_id, customer_id)

    return read


def _upsert(session: Session, account_id: str, customer_id: str, at: datetime,
            insert_values: dict, update_values: dict) -> None:
    if not customer_id:
        raise ValueError("a contact preference needs a customer id")
    dialect_insert = DIALECT_INSERTS[session.get_bind().dialect.name]
    session.execute(
        dialect_insert(PREFERENCES)
        .values(account_id=account_id, stripe_customer_id=customer_id, updated_at=at,
                **{"sms_opt_in": False} | insert_values)
        .on_conflict_do_update(index_elements=["account_id", "stripe_customer_id"],
                               set_={**update_values, "updated_at": at}))
