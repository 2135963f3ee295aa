"""The training set: one row per retry attempt, with only what was known just before it.

Each attempt on a failed invoice after its first failure (Stripe's and ours, failed or
succeeded) becomes a row: the case's ``DecisionSnapshot`` as of the attempt's time, turned into
features by ``candidate_frames`` (the scorer's own code), with the outcome as ``label``. The
invoice's first failure is left out: it opened the case, so it failed by construction and no
retry decision made it. A payment Stripe's own retry made that the log holds only as the
invoice's paid time (coexist mode) counts as a successful Stripe attempt at that time.
"""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlmodel import Session

from ml.features import FEATURE_COLUMNS, candidate_frames
from ml.history import AccountLog
from models import FinishedInvoice

EXTRA_COLUMNS = ("label", "attempted_at", "case_id", "propensity", "by")


def attempt_dataset(session: Session, account_id: str, *, since: datetime | None = None,
                    until: datetime | None = None) -> pd.DataFrame:
    """Rows for attempts made in [since, until), ordered by time: ``FEATURE_COLUMNS`` plus
    ``label`` (1: the charge succeeded), ``attempted_at``, ``case_id``, ``propensity`` (the
    logged chance the scorer gave the attempt, else NaN) and ``by`` (stripe | engine)."""
    log = AccountLog.load(session, account_id, before=until, with_features=True)
    attempts = _retry_attempts(log) + _stripe_payments(session, log, account_id, until)
    attempts = [(case_id, row) for case_id, row in attempts
                if (since is None or row.attempted_at >= since)
                and (until is None or row.attempted_at < until)]
    attempts.sort(key=lambda pair: (pair[1].attempted_at, pair[0]))
    if not attempts:
        return pd.DataFrame({name: pd.Series(dtype=float) for name in
                             (*FEATURE_COLUMNS, *EXTRA_COLUMNS)})
    # The snapshot is the scorer's own (``AccountLog.snapshot``), card included: the card facts
    # of the case's latest earlier attempt. An attempt's own record is no decision-time
    # knowledge: a declined charge carries its card's funding, country and expiry and a
    # successful one often does not, so reading it would give the outcome away.
    pairs = [(log.snapshot(case_id, row.attempted_at), [row.attempted_at])
             for case_id, row in attempts]
    frame = candidate_frames(pairs)
    frame["label"] = np.array([int(bool(row.succeeded)) for _, row in attempts], dtype=np.int8)
    frame["attempted_at"] = pd.to_datetime([row.attempted_at for _, row in attempts], utc=True)
    frame["case_id"] = np.array([case_id for case_id, _ in attempts], dtype=np.int64)
    frame["propensity"] = np.array([_propensity(row) for _, row in attempts], dtype=np.float64)
    frame["by"] = [row.by for _, row in attempts]
    return frame


def _retry_attempts(log: AccountLog) -> list[tuple[int, object]]:
    return [(case_id, row) for case_id, timeline in log.case_attempts.items()
            for row in timeline.rows[1:]]


def _stripe_payments(session: Session, log: AccountLog, account_id: str,
                     until: datetime | None) -> list[tuple[int, object]]:
    """Cases Stripe's own retry recovered with no successful attempt on record: a success at the
    invoice's paid time."""
    wanted = {case.stripe_invoice_id: case for case in log.cases.values()
              if case.recovered_by == "stripe" and not any(
                  row.succeeded for row in _rows(log, case.id))}
    if not wanted:
        return []
    query = select(FinishedInvoice.stripe_invoice_id, FinishedInvoice.finished_at).where(
        FinishedInvoice.account_id == account_id, FinishedInvoice.status == "paid",
        FinishedInvoice.stripe_invoice_id.in_(list(wanted)))
    found = []
    for invoice_id, paid_at in session.execute(query):
        case = wanted[invoice_id]
        if (until is None or paid_at < until) and _rows(log, case.id):
            found.append((case.id, SimpleNamespace(
                attempted_at=paid_at, succeeded=True, by="stripe", features=None,
                card_brand=None, card_funding=None, card_country=None, card_exp_month=None,
                card_exp_year=None)))
    return found


def _rows(log: AccountLog, case_id: int) -> list:
    timeline = log.case_attempts.get(case_id)
    return timeline.rows if timeline else []


def _propensity(row) -> float:
    features = row.features if isinstance(row.features, dict) else None
    value = features.get("propensity") if features else None
    return float(value) if isinstance(value, int | float) else np.nan
