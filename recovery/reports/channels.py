"""Channel and template effectiveness: per channel (email, sms), and per template (message kind)
and channel, the messages sent on the cohort's cases while they were open (see ``cohort``), the
cases they went to, and how many of those cases were recovered within N days after one of them
(``closed_at - sent_at <= N`` days). Rate = recovered after / cases messaged."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, case, func, select
from sqlmodel import Session

from models import CaseStatus, Message, RecoveryCase
from recovery.reports.cohort import Period, case_id_bounds, counted_message, in_cohort, share
from recovery.reports.dialect import prepare, seconds_between
from recovery.reports.tables import ReportTable


@dataclass(frozen=True)
class MessageEffect:
    channel: str
    template: str | None  # None on a channel's row
    sent: int
    cases: int  # cases messaged
    recovered_after: int  # of those, recovered within N days after such a message

    @property
    def rate(self) -> float:
        return share(self.recovered_after, self.cases)


@dataclass(frozen=True)
class MessageEffects:
    account_id: str
    period: Period
    rows: tuple[MessageEffect, ...]

    def table(self) -> ReportTable:
        return ReportTable(
            ("channel", "template", "sent", "cases", "recovered_after", "rate"),
            tuple((r.channel, r.template, r.sent, r.cases, r.recovered_after, r.rate)
                  for r in self.rows))


def channel_effectiveness(session: Session, account_id: str, period: Period) -> MessageEffects:
    rows = _effects(session, account_id, period, (Message.channel,))
    return MessageEffects(account_id, period, tuple(
        MessageEffect(channel, None, *figures) for (channel,), figures in rows))


def template_effectiveness(session: Session, account_id: str, period: Period) -> MessageEffects:
    rows = _effects(session, account_id, period, (Message.channel, Message.kind))
    return MessageEffects(account_id, period, tuple(
        MessageEffect(channel, kind, *figures) for (channel, kind), figures in rows))


def _effects(session: Session, account_id: str, period: Period,
             keys: tuple) -> list[tuple[tuple, tuple[int, int, int]]]:
    prepare(session)
    bounds = case_id_bounds(session, account_id, period)
    recovered_after = and_(
        RecoveryCase.status == CaseStatus.recovered.value,
        seconds_between(RecoveryCase.closed_at, Message.sent_at) <= period.window_seconds)
    query = (select(*keys, func.count(), func.count(Message.case_id.distinct()),
                    func.count(case((recovered_after, Message.case_id)).distinct()))
             .select_from(Message).join(RecoveryCase, Message.case_id == RecoveryCase.id)
             .where(*in_cohort(account_id, period), counted_message(),
                    Message.case_id.between(*bounds))
             .group_by(*keys))
    width = len(keys)
    return sorted((tuple(row[:width]), tuple(int(v or 0) for v in row[width:]))
                  for row in session.execute(query))
