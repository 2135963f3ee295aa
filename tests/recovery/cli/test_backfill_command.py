"""``recovery backfill`` end to end: the real command, a migrated database, Stripe faked at the
HTTP edge (respx)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import respx
from sqlalchemy import select
from typer.testing import CliRunner

import models
from models import BackfillRun, RecoveryCase
from recovery.cli import app
from recovery.runtime.settings import Settings
from tests.recovery.history_stub import UNCOLLECTIBLE, sample_history

KEY = "sk_test_BackfillCommandKey0123456789"


@pytest.fixture
def stub():
    # The command runs on the wall clock: the history is laid out back from now.
    history = sample_history(datetime.now(UTC))
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
        history.install(router)
        yield history


def run(services, *args: str, key: str = KEY):
    env = {"RECOVERY_DATABASE_URL": services.settings.database_url,
           "RECOVERY_STRIPE_API_KEY": key, "RECOVERY_LOG_LEVEL": "DEBUG"}
    return CliRunner().invoke(app, ["backfill", *args], env=env)


def everything_stored(services) -> str:
    with services.sessions() as session:
        return repr([list(session.execute(select(table)))
                     for table in models.metadata.sorted_tables])


def test_backfill_imports_the_history_and_prints_a_summary(services, stub):
    result = run(services, "--days", "180")

    assert result.exit_code == 0, result.output
    summary = result.output[result.output.index("backfill of acct_default"):]
    assert "invoices" in summary and "cases added" in summary
    assert [int(word) for word in summary.replace("│", " ").split() if word.isdigit()][-4:] == [
        7, 9, 4, 1]
    with services.sessions() as session:
        assert len(list(session.scalars(select(RecoveryCase)))) == 4
    # The key is in neither what was printed and logged nor the database.
    assert stub.sent and KEY not in result.output and KEY not in (result.stderr or "")
    assert KEY not in everything_stored(services)


def test_an_interrupted_backfill_resumes_when_run_again(services, stub):
    # Stripe stays down through the gateway's repeats of the read (``stripe_transient_retries``).
    down = [500] * (1 + Settings().stripe_transient_retries)
    stub.fail(f"invoices:{UNCOLLECTIBLE}", *down)

    stopped = run(services)

    assert stopped.exit_code == 1
    assert "Stripe is unavailable" in stopped.output
    assert "run the same command again to resume" in stopped.output
    done = len(stub.requests)

    resumed = run(services)

    assert resumed.exit_code == 0, resumed.output
    assert stub.requests[done] == f"invoices:{UNCOLLECTIBLE}"
    assert "invoices:" not in stub.requests[done:]
    with services.sessions() as session:
        (only,) = session.scalars(select(BackfillRun))
        assert (only.status, only.invoices, only.cases) == ("finished", 7, 4)


def test_backfill_refuses_without_a_stripe_key(services, stub):
    result = run(services, key="")

    assert result.exit_code == 2
    assert "set RECOVERY_STRIPE_API_KEY" in result.output
    assert stub.requests == []


def test_backfill_refuses_an_unknown_account_and_a_bad_window(services, stub):
    unknown = run(services, "--account", "acct_nobody")
    assert unknown.exit_code == 2 and "no account 'acct_nobody'" in unknown.output

    for days in ("0", "-5", "many"):
        refused = run(services, "--days", days)
        assert refused.exit_code == 2 and "--days" in refused.output
    assert stub.requests == []
