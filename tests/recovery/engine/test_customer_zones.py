"""Customers' time zones from what Stripe holds, and quiet hours kept wherever an action's time
moves (a plan, a deferral after Stripe trouble, a released claim, an account resumed)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from models import Account, ActionKind, ScheduledAction
from recovery.actions import runner as actions
from recovery.engine.customer_zones import customer_zone, zone_of_place
from recovery.worker.jobs import run_actions
from tests.recovery.cli.test_cli import run as run_cli
from tests.recovery.engine.test_e2e import deliver, failed_event, scheduled, the_case

NEW_YORK = ZoneInfo("America/New_York")  # the stub's cards are issued in the US


@pytest.mark.parametrize(("place", "zone"), [
    (dict(address_country="US", address_state="CA"), "America/Los_Angeles"),
    (dict(address_country="us", address_state="US-TX"), "America/Chicago"),
    (dict(address_country="US", address_state="Hawaii"), "Pacific/Honolulu"),
    (dict(address_country="CA", address_state="BC"), "America/Vancouver"),
    (dict(address_country="AU", address_state="WA"), "Australia/Perth"),
    # Without a state, the zone most of the country lives in, not the IANA table's first one.
    (dict(address_country="CA"), "America/Toronto"),
    (dict(address_country="BR"), "America/Sao_Paulo"),
    (dict(address_country="FR", address_state="IDF"), "Europe/Paris"),
    (dict(address_country="ZZ", card_country="DE"), "Europe/Berlin"),
    (dict(card_country="JP", account_zone="Europe/Paris"), "Asia/Tokyo"),
    (dict(account_zone="Europe/Paris"), "Europe/Paris"),
    (dict(account_zone="Mars/Olympus_Mons"), "UTC"),
    (dict(), "UTC"),
])
def test_a_customers_zone_comes_from_the_address_then_the_card_then_the_account(place, zone):
    assert customer_zone(**place) == zone


def test_every_country_with_a_time_zone_maps_to_a_real_one():
    assert zone_of_place("ES") == "Europe/Madrid"
    assert zone_of_place("XX") is None and zone_of_place("") is None


def local(at: datetime, zone: ZoneInfo = NEW_YORK) -> str:
    return at.astimezone(zone).strftime("%a %H:%M")


def test_a_customer_in_california_is_retried_at_nine_in_california(client, services, stub):
    address = {"city": "Oakland", "country": "US", "line1": "1 Main St", "line2": None,
               "postal_code": "94607", "state": "CA"}
    deliver(client, services, failed_event(services, overrides={"customer_address": address}))
    assert the_case(services).customer_timezone == "America/Los_Angeles"
    (retry,) = scheduled(services, ActionKind.retry)
    assert local(retry.due_at, ZoneInfo("America/Los_Angeles")).endswith("09:00")


def test_without_an_address_or_card_country_the_accounts_zone_is_used(client, services, stub):
    stub.card_country = None
    with services.sessions() as session:
        session.get(Account, "acct_default").timezone = "Asia/Tokyo"
        session.commit()
    deliver(client, services, failed_event(services))
    assert the_case(services).customer_timezone == "Asia/Tokyo"


def test_the_accounts_zone_is_set_and_checked_from_the_cli(services):
    assert run_cli(services, "policy", "timezone", "Not/AZone").exit_code == 2
    assert run_cli(services, "policy", "timezone", "Europe/Lisbon").exit_code == 0
    shown = run_cli(services, "policy", "timezone")
    assert shown.exit_code == 0 and "Europe/Lisbon" in shown.output
    with services.sessions() as session:
        assert session.get(Account, "acct_default").timezone == "Europe/Lisbon"


def retry_due_at(services, at: datetime) -> int:
    """Make the case's retry due at ``at`` and the clock show it."""
    (retry,) = scheduled(services, ActionKind.retry)
    with services.sessions() as session:
        session.execute(update(ScheduledAction).where(ScheduledAction.id == retry.id)
                        .values(due_at=at))
        session.commit()
    services.clock.set(at)
    return retry.id


def the_retry(services) -> ScheduledAction:
    (retry,) = scheduled(services, ActionKind.retry)
    return retry


def test_a_retry_deferred_into_the_night_waits_for_the_morning(client, services, stub):
    deliver(client, services, failed_event(services))
    run_actions(services)
    day = services.clock.now().astimezone(NEW_YORK)
    retry_due_at(services, day.replace(hour=20, minute=59, second=50))
    stub.outage = (503, {"type": "api_error", "message": "down"})
    run_actions(services)  # Stripe is down: try again in 30 s, which is 21:00:20 local
    deferred = the_retry(services)
    assert deferred.result["deferrals"] == 1
    assert local(deferred.due_at) == (day + timedelta(days=1)).strftime("%a 08:00")


def test_a_claim_released_at_night_runs_in_the_morning(client, services, stub):
    deliver(client, services, failed_event(services))
    run_actions(services)
    day = services.clock.now().astimezone(NEW_YORK)
    retry_id = retry_due_at(services, day.replace(hour=20, minute=50))
    assert actions.claim_due(services.sessions, services.clock, "doomed", 10) == [retry_id]
    services.clock.advance(actions.LEASE + timedelta(minutes=20))  # 21:15 local
    assert actions.release_stale_actions(services.sessions, services.clock) == 1
    assert local(the_retry(services).due_at) == (day + timedelta(days=1)).strftime("%a 08:00")
    run_actions(services)
    assert stub.pay_keys == []


def test_a_paused_account_resumed_at_night_retries_in_the_morning(client, services, stub):
    deliver(client, services, failed_event(services))
    stub.outage = (401, {"type": "invalid_request_error", "message": "Invalid API Key provided"})
    run_actions(services)  # the account is paused, its retry with it
    stub.outage = None
    resumed_at = (services.clock.now() + timedelta(days=2)).astimezone(NEW_YORK).replace(
        hour=23, minute=0)
    services.clock.set(resumed_at)
    assert actions.resume_account(services.sessions, services.clock, "acct_default") >= 1
    retry = the_retry(services)
    assert local(retry.due_at) == (resumed_at + timedelta(days=1)).strftime("%a 08:00")
    run_actions(services)
    assert stub.pay_keys == []
