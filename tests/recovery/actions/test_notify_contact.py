"""The notify step asks the contact rules at send time: a message they defer runs again at the
time they allow, one they refuse is canceled with their reason, and must-sends reach an
unsubscribed customer."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from models import Account, ActionKind, ActionStatus, ScheduledAction
from recovery.worker.jobs import run_actions
from tests.recovery.actions.flow import action, actions_of, messages, open_case


def notices(services, template: str) -> list[ScheduledAction]:
    return [a for a in actions_of(services, ActionKind.notify)
            if a.params["template"] == template]


def move(services, action_id: int, due_at: datetime) -> None:
    with services.sessions() as session:
        session.execute(update(ScheduledAction).where(ScheduledAction.id == action_id)
                        .values(due_at=due_at))
        session.commit()


def set_communication(services, **fields) -> None:
    with services.sessions() as session:
        account = session.get(Account, services.settings.account_id)
        account.policy = {**(account.policy or {}), "communication": fields}
        session.commit()


# The case opens at 09:00 in New York (14:00 UTC); its first retry is a day later. Each test
# brings a message forward to a time before that retry, which would otherwise end the case.


def test_a_reminder_due_at_night_waits_for_the_customers_morning(client, services, stub):
    set_communication(services, min_gap_hours=0)
    case = open_case(client, services)
    assert case.customer_timezone == "America/New_York"
    first, *_later = notices(services, "reminder")
    night = datetime(2026, 11, 3, 4, 30, tzinfo=UTC)  # 23:30 in New York
    move(services, first.id, night)
    services.clock.set(night)
    run_actions(services)

    deferred = action(services, first.id)
    morning = datetime(2026, 11, 3, 13, 0, tzinfo=UTC)  # 08:00 in New York
    assert (deferred.status, deferred.due_at) == (ActionStatus.scheduled, morning)
    assert deferred.result == {"deferred": "deferred: quiet hours in the customer's time zone",
                               "until": morning.isoformat()}
    assert [m.kind for m in messages(services)] == ["payment_failed"]

    services.clock.set(morning)
    run_actions(services)
    assert action(services, first.id).status == ActionStatus.done
    assert [(m.kind, m.created_at) for m in messages(services)][-1] == ("reminder", morning)


def test_a_reminder_too_close_to_the_last_message_waits_out_the_gap(client, services, stub):
    case = open_case(client, services)  # the failure notice went out now
    sent_at = services.clock.now()
    first, *_later = notices(services, "reminder")
    move(services, first.id, sent_at + timedelta(hours=2))
    services.clock.set(sent_at + timedelta(hours=2))
    run_actions(services)
    assert action(services, first.id).due_at == sent_at + timedelta(hours=24)
    assert len(messages(services)) == 1 and case.id == messages(services)[0].case_id


def test_a_message_over_the_case_cap_is_canceled_with_the_reason(client, services, stub):
    set_communication(services, max_per_case=1)
    open_case(client, services)
    first, *_later = notices(services, "reminder")
    soon = services.clock.now() + timedelta(hours=1)
    move(services, first.id, soon)
    services.clock.set(soon)
    run_actions(services)
    refused = action(services, first.id)
    assert refused.status == ActionStatus.canceled
    assert refused.result == {"canceled": "the case has had its 1 messages (max_per_case)",
                              "template": "reminder"}
    assert [m.kind for m in messages(services)] == ["payment_failed"]


def test_an_unsubscribed_customer_gets_only_the_must_sends(client, services, stub):
    set_communication(services, sequence=[{"kind": "payment_failed"},
                                          {"kind": "final_notice", "before_end_days": 3}])
    services.steps.context = replace(services.steps.context,
                                     unsubscribed=lambda session, account, customer: True)
    open_case(client, services)
    (failure_notice,) = notices(services, "payment_failed")
    assert action(services, failure_notice.id).result["canceled"] == "the customer unsubscribed"
    (final,) = notices(services, "final_notice")
    soon = services.clock.now() + timedelta(hours=1)
    move(services, final.id, soon)
    services.clock.set(soon)
    run_actions(services)
    assert action(services, final.id).status == ActionStatus.done  # a legal notice: must-send
    assert [m.kind for m in messages(services)] == ["final_notice"]


def test_turned_off_communication_schedules_no_message(client, services, stub):
    set_communication(services, enabled=False)
    open_case(client, services)
    assert actions_of(services, ActionKind.notify) == []
    assert messages(services) == []
