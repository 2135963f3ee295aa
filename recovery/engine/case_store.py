"""Reading and writing recovery cases, their attempts and their scheduled actions.

Small queries the engine and the action runner share; no decisions are made here.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import String, and_, cast, func, literal, or_, update
from sqlmodel import Session, select

from models import (
    ActionKind,
    ActionStatus,
    CaseStatus,
    ChargeAttempt,
    RecoveryCase,
    ScheduledAction,
    WaitingFor,
)
from models.scheduled_action import LIVE_STEP
from recovery.rules.declines import Classification, classify_decline
from recovery.rules.network_rules import AttemptRecord
from recovery.runtime.db import DIALECT_INSERTS
from webhooks.facts import DeclineInfo

EXECUTED = (ActionStatus.claimed.value, ActionStatus.done.value)
STEP_KINDS = (ActionKind.retry.value, ActionKind.end_dunning.value)  # a case's one live step
# What a closing case cancels: everything but applying an offer the customer accepted while the
# case was open (what was promised is kept) and the account's outbound events (its systems hear
# of the case's whole life, the end included).
KEPT_ON_CLOSE = (ActionKind.apply_offer, ActionKind.outbound_event)
CLOSING_KINDS = tuple(kind.value for kind in ActionKind if kind not in KEPT_ON_CLOSE)
# Writes to the action queue are Core statements on the table: an ORM-enabled UPDATE would also
# search the session for objects to synchronise, which these writes never need.
ACTIONS = ScheduledAction.__table__


def case_for_invoice(session: Session, account_id: str, invoice_id: str) -> RecoveryCase | None:
    return session.exec(
        select(RecoveryCase).where(RecoveryCase.account_id == account_id,
                                   RecoveryCase.stripe_invoice_id == invoice_id)
    ).first()


def open_cases(session: Session, account_id: str, *, customer_id: str | None = None,
               subscription_id: str | None = None) -> list[RecoveryCase]:
    query = select(RecoveryCase).where(RecoveryCase.account_id == account_id,
                                       RecoveryCase.status == CaseStatus.open.value)
    if customer_id is not None:
        query = query.where(RecoveryCase.stripe_customer_id == customer_id)
    if subscription_id is not None:
        query = query.where(RecoveryCase.stripe_subscription_id == subscription_id)
    return list(session.exec(query.order_by(RecoveryCase.id)))


def success_of_action(session: Session, account_id: str,
                      action_id: int) -> ChargeAttempt | None:
    """The success recorded for this retry, if any."""
    return session.exec(
        select(ChargeAttempt).where(ChargeAttempt.account_id == account_id,
                                    ChargeAttempt.action_id == action_id,
                                    ChargeAttempt.succeeded.is_(True))
    ).first()


def unnamed_success_of_action(session: Session, account_id: str,
                              action_id: int | None) -> ChargeAttempt | None:
    """The success recorded for this retry before its charge was known (from ``invoice.paid``,
    when the retry's own answer was lost)."""
    if action_id is None:
        return None
    return session.exec(
        select(ChargeAttempt).where(ChargeAttempt.account_id == account_id,
                                    ChargeAttempt.action_id == action_id,
                                    ChargeAttempt.stripe_charge_id.is_(None),
                                    ChargeAttempt.succeeded.is_(True))
    ).first()


def decline_of_action(session: Session, account_id: str,
                      action_id: int) -> ChargeAttempt | None:
    """The newest decline recorded for this retry (Stripe's event reported it, carrying the
    retry's key), if any."""
    return session.exec(
        select(ChargeAttempt).where(ChargeAttempt.account_id == account_id,
                                    ChargeAttempt.action_id == action_id,
                                    ChargeAttempt.succeeded.is_(False))
        .order_by(ChargeAttempt.attempted_at.desc(), ChargeAttempt.id.desc())
    ).first()


def attempt_by_charge(
    session: Session, account_id: str, charge_id: str | None
) -> ChargeAttempt | None:
    if not charge_id:
        return None
    return session.exec(
        select(ChargeAttempt).where(ChargeAttempt.account_id == account_id,
                                    ChargeAttempt.stripe_charge_id == charge_id)
    ).first()


def attempt_waiting_for_details(session: Session, case_id: int,
                                at: datetime) -> ChargeAttempt | None:
    """The case's attempt at ``at`` recorded without its decline details, if any."""
    return session.exec(
        select(ChargeAttempt).where(ChargeAttempt.case_id == case_id,
                                    ChargeAttempt.attempted_at == at,
                                    ChargeAttempt.details_pending.is_(True))
    ).first()


def case_for_payment_intent(session: Session, account_id: str, intent_id: str | None):
    if not intent_id:
        return None
    attempt = session.exec(
        select(ChargeAttempt).where(ChargeAttempt.account_id == account_id,
                                    ChargeAttempt.stripe_payment_intent_id == intent_id,
                                    ChargeAttempt.case_id.is_not(None))
    ).first()
    return session.get(RecoveryCase, attempt.case_id) if attempt else None


def case_attempts(session: Session, case_id: int) -> list[ChargeAttempt]:
    return list(session.exec(
        select(ChargeAttempt).where(ChargeAttempt.case_id == case_id)
        .order_by(ChargeAttempt.attempted_at, ChargeAttempt.id)
    ))


# The attempt columns the network rules and the decline classifier read.
HISTORY_COLUMNS = (
    ChargeAttempt.account_id, ChargeAttempt.card_fingerprint, ChargeAttempt.attempted_at,
    ChargeAttempt.succeeded, ChargeAttempt.by, ChargeAttempt.card_brand,
    ChargeAttempt.failure_code, ChargeAttempt.decline_code, ChargeAttempt.advice_code,
    ChargeAttempt.network_decline_code, ChargeAttempt.network_advice_code,
    ChargeAttempt.outcome_type, ChargeAttempt.outcome_reason, ChargeAttempt.payment_method_kind,
)
OWN_KEY_PREFIX = "recovery:"  # an action's idempotency key is recovery:<action id>
IN_LIST_CHUNK = 500  # ids per IN (...) list: well inside every database's parameter limit


def card_history(session: Session, account_id: str, fingerprint: str | None) -> list[AttemptRecord]:
    """Every attempt on this card at this merchant (all invoices, Stripe's own included)."""
    if not fingerprint:
        return []
    return card_histories(session, [(account_id, fingerprint)]).get((account_id, fingerprint), [])


def card_histories(session: Session, cards: Collection[tuple[str, str]]
                   ) -> dict[tuple[str, str], list[AttemptRecord]]:
    """``card_history`` for many (account, fingerprint) pairs in a few queries."""
    by_account: dict[str, list[str]] = {}
    for account_id, fingerprint in set(cards):
        by_account.setdefault(account_id, []).append(fingerprint)
    histories: dict[tuple[str, str], list[AttemptRecord]] = {}
    for account_id, fingerprints in by_account.items():
        for chunk in _chunks(sorted(fingerprints)):
            rows = session.execute(
                select(*HISTORY_COLUMNS).where(ChargeAttempt.account_id == account_id,
                                               ChargeAttempt.card_fingerprint.in_(chunk)))
            for row in rows:
                histories.setdefault((account_id, row.card_fingerprint), []).append(to_record(row))
    return histories


def to_record(row) -> AttemptRecord:
    """An attempt row (entity or selected columns) as the network rules see it."""
    return AttemptRecord(
        card_fingerprint=row.card_fingerprint or "", at=row.attempted_at,
        succeeded=row.succeeded, classification=None if row.succeeded else classify_row(row),
        by=row.by if row.by in ("stripe", "engine") else "stripe",
        kind=row.payment_method_kind,
    )


def classify_row(row) -> Classification:
    return classify_decline(decline_of(row), row.card_brand)


def decline_of(row) -> DeclineInfo:
    return DeclineInfo(
        failure_code=row.failure_code, decline_code=row.decline_code, advice_code=row.advice_code,
        network_decline_code=row.network_decline_code, network_advice_code=row.network_advice_code,
        outcome_type=row.outcome_type, outcome_reason=row.outcome_reason,
    )


@dataclass
class ActionLog:
    """What planning reads from a case's actions."""

    retries_done: int = 0  # retries the engine has started (claimed or finished)
    # The sequence steps (``notice`` keys; a template for older actions) scheduled or sent.
    notified: set[str] = field(default_factory=set)
    step_running: bool = False  # a worker holds the case's retry or end of dunning right now


def action_logs(session: Session, case_ids: Sequence[int]) -> dict[int, ActionLog]:
    """Each case's ``ActionLog``, for many cases in one query per chunk."""
    logs = {case_id: ActionLog() for case_id in case_ids}
    for chunk in _chunks(case_ids):
        rows = session.execute(
            select(ScheduledAction.case_id, ScheduledAction.kind, ScheduledAction.status,
                   ScheduledAction.params)
            .where(ScheduledAction.case_id.in_(chunk),
                   or_(and_(ScheduledAction.kind.in_(STEP_KINDS),
                            ScheduledAction.status.in_(EXECUTED)),
                       and_(ScheduledAction.kind == ActionKind.notify.value,
                            ScheduledAction.status != ActionStatus.canceled.value))))
        for case_id, kind, status, params in rows:
            log = logs[case_id]
            if kind == ActionKind.notify.value:
                params = params or {}
                log.notified.add(params.get("notice") or params.get("template"))
                continue
            log.step_running = log.step_running or status == ActionStatus.claimed.value
            log.retries_done += kind == ActionKind.retry.value
    return logs


def lock_cases(session: Session, case_ids: Collection[int]) -> dict[int, RecoveryCase]:
    """Lock these cases' rows until the transaction ends and re-read them, so a plan is made on
    the latest state and no other worker plans the same case meanwhile.

    ``FOR UPDATE`` on PostgreSQL, in id order so two planners never wait on each other in a
    circle; SQLite lets one writer at a time in, so there the re-read is enough. What this unit
    of work changed is written first: the re-read would otherwise overwrite it."""
    session.flush()
    found: dict[int, RecoveryCase] = {}
    for chunk in _chunks(sorted(set(case_ids))):
        found.update((case.id, case) for case in session.scalars(
            select(RecoveryCase).where(RecoveryCase.id.in_(chunk)).order_by(RecoveryCase.id)
            .with_for_update().execution_options(populate_existing=True)))
    return found


def retry_in_flight(session: Session, case_id: int) -> bool:
    """A retry has been claimed and its outcome is not recorded yet."""
    return session.exec(
        select(func.count()).select_from(ScheduledAction)
        .where(ScheduledAction.case_id == case_id, ScheduledAction.kind == ActionKind.retry.value,
               ScheduledAction.status == ActionStatus.claimed.value)
    ).one() > 0


def card_changed_since_claim(session: Session, case: RecoveryCase, action_id: int) -> bool:
    """The case's card changed after a worker claimed this action."""
    claimed_at = session.scalar(select(ACTIONS.c.claimed_at).where(ACTIONS.c.id == action_id))
    changed_at = case.card_changed_at
    return claimed_at is not None and changed_at is not None and changed_at > claimed_at


def retry_will_record_answer(session: Session, case_id: int,
                             idempotency_key: str | None) -> bool:
    """This case's retry that sent the key will record Stripe's answer to it itself: it is
    running now, or waiting to run again with this very key (Stripe then replays the answer).
    Otherwise (it finished with a later key, or the case moved on) the answer was lost to it,
    and the event is the only report of the attempt."""
    action_id = action_id_of_key(idempotency_key)
    action = session.get(ScheduledAction, action_id) if action_id is not None else None
    if action is None or action.case_id != case_id or action.kind != ActionKind.retry.value:
        return False
    if action.status == ActionStatus.claimed.value:
        return True
    # Done with this key: the runner recorded its answer. Scheduled with it: it will.
    current_key = action.idempotency_key or action_key(action.id)
    return action.status in (ActionStatus.scheduled.value, ActionStatus.done.value) \
        and current_key == idempotency_key


def retry_of_case(session: Session, case_id: int, idempotency_key: str | None) -> int | None:
    """The id of this case's retry action the key belongs to, whatever its status now (a
    retry whose answer was lost is scheduled again, or canceled once the case ends)."""
    action_id = action_id_of_key(idempotency_key)
    action = session.get(ScheduledAction, action_id) if action_id is not None else None
    if action is None or action.case_id != case_id or action.kind != ActionKind.retry.value:
        return None
    return action_id


def end_of_dunning_of_case(session: Session, case_id: int,
                           idempotency_key: str | None) -> int | None:
    """The id of this case's end-of-dunning action the key belongs to (its invoice step sends
    ``<action key>:invoice``), while that action is still to finish (scheduled or claimed)."""
    action_id = action_id_of_key(idempotency_key)
    action = session.get(ScheduledAction, action_id) if action_id is not None else None
    if action is None or action.case_id != case_id \
            or action.kind != ActionKind.end_dunning.value \
            or action.status not in (ActionStatus.scheduled.value, ActionStatus.claimed.value):
        return None
    return action_id


def cancel_actions(session: Session, case_id: int, now: datetime,
                   kinds: Sequence[str] | None = None) -> int:
    return cancel_actions_of(session, [case_id], now, kinds)


def cancel_actions_of(session: Session, case_ids: Sequence[int], now: datetime,
                      kinds: Sequence[str] | None = None) -> int:
    """Cancel the still-scheduled actions (of ``kinds``, or all) of these cases."""
    canceled = 0
    for chunk in _chunks(case_ids):
        statement = (
            update(ACTIONS)
            .where(ACTIONS.c.case_id.in_(chunk), ACTIONS.c.status == ActionStatus.scheduled.value)
            .values(status=ActionStatus.canceled.value, finished_at=now)
        )
        if kinds:
            statement = statement.where(ACTIONS.c.kind.in_(list(kinds)))
        canceled += session.execute(statement).rowcount
    return canceled


@dataclass(frozen=True)
class ActionDraft:
    """An action to schedule for a case; ``schedule_many`` writes many in one statement."""

    case: RecoveryCase
    kind: ActionKind
    due_at: datetime
    reason: str
    params: dict | None = None


def schedule_many(session: Session, drafts: Sequence[ActionDraft], now: datetime) -> set[int]:
    """Insert the drafts as scheduled actions, in one multi-row insert; returns the ids of the
    cases whose step (retry or end of dunning) was written.

    A case has one live step (the ``LIVE_STEP`` unique index): a step drafted for a case that
    already has one is left out, not an error, so a planner that lost a race changes nothing.
    Each action gets its idempotency key ``recovery:<id>`` when a worker claims it (``OWN_KEY``):
    from then on every call for the action, retried or not, sends that key (or the one that
    replaced it after Stripe stored a 5xx under it: ``action_key``)."""
    if not drafts:
        return set()
    rows = [dict(account_id=d.case.account_id, case_id=d.case.id, kind=d.kind.value,
                 due_at=d.due_at, status=ActionStatus.scheduled.value, params=d.params,
                 reason=d.reason, tries=0, created_at=now) for d in drafts]
    insert = DIALECT_INSERTS[session.get_bind().dialect.name]
    written = session.execute(
        insert(ACTIONS).on_conflict_do_nothing(index_elements=[ACTIONS.c.case_id],
                                               index_where=LIVE_STEP)
        .returning(ACTIONS.c.case_id, ACTIONS.c.kind), rows)
    return {case_id for case_id, kind in written if kind in STEP_KINDS}


# The action's own key, derived from its row; set once (a claim after a crash keeps it).
OWN_KEY = func.coalesce(ACTIONS.c.idempotency_key,
                        literal(OWN_KEY_PREFIX) + cast(ACTIONS.c.id, String))


def is_engine_key(idempotency_key: str | None) -> bool:
    """The key of one of the engine's own actions (Stripe echoes it on the events it causes)."""
    return bool(idempotency_key) and idempotency_key.startswith(OWN_KEY_PREFIX)


def action_key(action_id: int, serial: int = 0) -> str:
    """``recovery:<id>``, or ``recovery:<id>:<serial>`` for the action's later keys (Stripe
    replays a stored 5xx under a key for 24 h, so trying again needs a new one)."""
    return f"{OWN_KEY_PREFIX}{action_id}" + (f":{serial}" if serial else "")


def action_id_of_key(idempotency_key: str | None) -> int | None:
    """The action a key of ours belongs to (its own key, a later one, or a step's key)."""
    if not is_engine_key(idempotency_key):
        return None
    head = idempotency_key[len(OWN_KEY_PREFIX):].split(":", 1)[0]
    return int(head) if head.isdigit() else None


def close_case(session: Session, case: RecoveryCase, status: CaseStatus, now: datetime,
               recovered_by: str | None = None) -> None:
    case.status = status.value
    case.waiting_for = WaitingFor.nothing.value
    case.recovered_by = recovered_by
    case.closed_at = now
    case.updated_at = now
    cancel_actions(session, case.id, now, CLOSING_KINDS)


def _chunks(values: Sequence) -> list[Sequence]:
    values = list(values)
    return [values[n:n + IN_LIST_CHUNK] for n in range(0, len(values), IN_LIST_CHUNK)]
