"""The ``recovery`` command's inbox and case views against a real database."""

from __future__ import annotations

from sqlmodel import select
from typer.testing import CliRunner

from models import PolicyVersion, RecoveryCase
from recovery.cli import app
from tests.recovery.ingest.test_inbox import invoice_event, put


def run(services, *args: str):
    env = {"RECOVERY_DATABASE_URL": services.settings.database_url,
           "RECOVERY_STRIPE_API_KEY": ""}
    return CliRunner().invoke(app, list(args), env=env)


def test_inbox_stats_and_redrive(services):
    put(services, invoice_event("evt_cli"))
    result = run(services, "inbox", "stats", "--json")
    assert result.exit_code == 0, result.output
    assert '"pending": 1' in result.output
    assert run(services, "inbox", "redrive").exit_code == 2
    assert "re-driven: 0" in run(services, "inbox", "redrive", "--failed").output


def test_cases_list_and_show(services):
    now = services.clock.now()
    with services.sessions() as session:
        session.add(RecoveryCase(account_id="acct_default", stripe_invoice_id="in_cli",
                                 amount_due=1999, first_failed_at=now, created_at=now,
                                 updated_at=now, last_reason="retry 1 of 5, day 2"))
        session.commit()
    listed = run(services, "cases", "list")
    assert listed.exit_code == 0 and "in_cli" in listed.output
    shown = run(services, "cases", "show", "in_cli")
    assert shown.exit_code == 0 and "retry 1 of 5" in shown.output
    assert run(services, "cases", "show", "in_missing").exit_code == 1


def test_policy_set_validates_and_saves_then_show_reads_it(services):
    saved = run(services, "policy", "set", '{"name": "weekly", "offsets_days": [2, 7, 14], '
                                           '"max_retries": 3}')
    assert saved.exit_code == 0, saved.output
    shown = run(services, "policy", "show")
    assert '"weekly"' in shown.output and "14.0" in shown.output
    refused = run(services, "policy", "set", '{"offsets_days": [5, 1]}')
    assert refused.exit_code == 2 and "offsets_days must increase" in refused.output
    assert run(services, "policy", "set", "not json").exit_code == 2


def test_policy_set_and_show_carry_the_communication_policy(services):
    saved = run(services, "policy", "set", '{"name": "gentle", "communication": '
                                           '{"max_per_case": 4, "quiet_start_hour": 20}}')
    assert saved.exit_code == 0, saved.output
    shown = run(services, "policy", "show")
    assert '"max_per_case": 4' in shown.output and '"quiet_start_hour": 20' in shown.output
    assert '"gentle"' in shown.output
    # A later retry-only change keeps the communication policy.
    assert run(services, "policy", "set", '{"name": "weekly"}').exit_code == 0
    assert '"max_per_case": 4' in run(services, "policy", "show").output
    refused = run(services, "policy", "set", '{"communication": {"min_gap_hours": -3, '
                                             '"channels": ["fax"]}}')
    assert refused.exit_code == 2
    assert "min_gap_hours" in refused.output and "channels" in refused.output


def test_policy_set_makes_versions_that_rollback_returns_to(services):
    assert "version 1" in run(services, "policy", "set", '{"name": "weekly"}').output
    assert "version 2" in run(services, "policy", "set", '{"name": "daily"}', "--note",
                              "faster").output
    listed = run(services, "policy", "versions")
    assert listed.exit_code == 0 and "cli:" in listed.output and "faster" in listed.output
    back = run(services, "policy", "rollback", "1")
    assert back.exit_code == 0 and "as version 3" in back.output, back.output
    assert '"weekly"' in run(services, "policy", "show").output
    assert run(services, "policy", "rollback", "9").exit_code == 2
    with services.sessions() as session:
        rows = list(session.exec(select(PolicyVersion).order_by(PolicyVersion.number)))
    assert [(v.number, v.note) for v in rows] == [(1, None), (2, "faster"), (3, "rollback to 1")]
    assert all(v.author.startswith("cli:") for v in rows)
