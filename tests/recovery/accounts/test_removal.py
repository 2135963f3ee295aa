"""Removing an account: its endpoint is deleted with its own key, its row and history stay, and
from then on its events are refused, its actions never run and no Stripe call is made for it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from models import Account, AuditEntry, RecoveryCase, ScheduledAction
from recovery.accounts.removal import remove_account
from recovery.actions.runner import claim_due
from recovery.app import create_app
from recovery.errors import AccountAccessRevoked, AccountConflict, NotFound
from tests.recovery.accounts.conftest import OWN_ACCOUNT, OWN_KEY
from tests.recovery.accounts.test_connect import connect_own, own_event
from tests.webhooks.signing import signed_request


def due_action(services, account_id: str) -> int:
    now = services.clock.now()
    with services.sessions() as session:
        case = RecoveryCase(account_id=account_id, stripe_invoice_id=f"in_{account_id}",
                            first_failed_at=now, created_at=now, updated_at=now)
        session.add(case)
        session.flush()
        action = ScheduledAction(account_id=account_id, case_id=case.id, kind="retry",
                                 due_at=now - timedelta(minutes=1), created_at=now)
        session.add(action)
        session.commit()
        return action.id


def test_removing_deletes_the_endpoint_and_refuses_the_accounts_events(desk, keyed_services,
                                                                       stripe_accounts, clock):
    with TestClient(create_app(keyed_services, run_worker=False)) as client:
        connect_own(desk)
        [endpoint] = stripe_accounts.live()
        removed = remove_account(desk, account_id="own", actor="token:7")
        body, headers = signed_request(own_event(), endpoint.secret, clock.now())
        answer = client.post("/webhooks/stripe?account=own", content=body, headers=headers)
    assert answer.status_code == 400
    deletion = stripe_accounts.delete_route.calls.last.request
    assert deletion.url.path == f"/v1/webhook_endpoints/{endpoint.id}"
    assert deletion.headers["Authorization"] == f"Bearer {OWN_KEY}"
    assert stripe_accounts.live() == [] and removed.removed_at == clock.now()
    with keyed_services.sessions() as session:
        row = session.get(Account, "own")
        [audit] = session.exec(select(AuditEntry).where(AuditEntry.action == "account.remove"))
    assert (row.api_key_sealed, row.webhook_secrets, row.stripe_webhook_endpoint_id) == (
        None, "", None)
    assert row.stripe_account_id == OWN_ACCOUNT  # kept: the same account may come back
    assert audit.actor == "token:7" and audit.before["removed"] is False
    assert audit.after["removed"] is True and audit.after["webhook_endpoint"] == "deleted"


def test_a_removed_accounts_actions_are_not_run_and_its_stripe_data_not_reached(
        desk, keyed_services, stripe_accounts):
    connect_own(desk)
    own_action = due_action(keyed_services, "own")
    default_action = due_action(keyed_services, keyed_services.settings.account_id)
    remove_account(desk, account_id="own", actor="cli:ops")
    claimed = claim_due(keyed_services.sessions, keyed_services.clock, "worker-1", 10)
    assert claimed == [default_action]
    with keyed_services.sessions() as session:
        assert session.get(ScheduledAction, own_action).status == "scheduled"
    with pytest.raises(AccountAccessRevoked, match="removed"):
        keyed_services.accounts.stripe_account_of("own")


def test_an_endpoint_already_gone_or_a_revoked_key_does_not_stop_a_removal(
        desk, keyed_services, stripe_accounts):
    connect_own(desk)
    [endpoint] = stripe_accounts.live()
    endpoint.deleted = True  # deleted in the Dashboard: Stripe answers 404
    remove_account(desk, account_id="own", actor="cli:ops")

    connect_own(desk, account_id="own")  # the same Stripe account again: its row comes back
    del stripe_accounts.keys[OWN_KEY]  # the owner revoked the key: Stripe answers 401
    remove_account(desk, account_id="own", actor="cli:ops")
    with keyed_services.sessions() as session:
        outcomes = [entry.after["webhook_endpoint"] for entry in session.exec(
            select(AuditEntry).where(AuditEntry.action == "account.remove")
            .order_by(AuditEntry.id))]
    assert outcomes[0] == "already gone"
    assert outcomes[1].startswith("left: ") and "401" in outcomes[1]
    assert OWN_KEY[8:] not in outcomes[1]


def test_what_cannot_be_removed(desk, keyed_services, stripe_accounts):
    with pytest.raises(AccountConflict, match="settings' account"):
        remove_account(desk, account_id=keyed_services.settings.account_id, actor="cli:ops")
    with pytest.raises(NotFound):
        remove_account(desk, account_id="nobody", actor="cli:ops")
    connect_own(desk)
    remove_account(desk, account_id="own", actor="cli:ops")
    with pytest.raises(NotFound):
        remove_account(desk, account_id="own", actor="cli:ops")
