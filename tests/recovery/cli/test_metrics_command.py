"""``recovery metrics``: the reports' tables in the terminal, and the API's CSV with ``--csv``."""

from __future__ import annotations

import pytest

from recovery.reports.recovery_rates import recovery_rate
from recovery.reports.tables import to_csv
from tests.recovery.cli.test_cli import run
from tests.recovery.reports import hand_built
from tests.recovery.reports.hand_built import PERIOD

OCTOBER = ("--start", "2026-10-01", "--end", "2026-11-01")


@pytest.fixture
def account(services, clock) -> str:
    hand_built.build(services.sessions, services.settings.account_id, clock.now())
    return services.settings.account_id


def test_rate_by_decline_class_as_csv_is_the_reports_table(services, account):
    result = run(services, "metrics", "rate", "--by", "decline_class", *OCTOBER, "--csv")
    assert result.exit_code == 0, result.output
    with services.sessions() as session:
        expected = to_csv(recovery_rate(session, account, PERIOD, by="decline_class").table())
    assert result.output == expected
    assert result.output.splitlines()[2] == "retry,6,3,0.5,usd,13200,1700,0.12878787878787878"


def test_the_terminal_table(services, account):
    result = run(services, "metrics", "rate", *OCTOBER)
    assert result.exit_code == 0, result.output
    assert "first failures 2026-10-01 to 2026-10-31, recovered within 30 days" in " ".join(
        result.output.split())
    assert "40.0%" in result.output  # 4 of 10


@pytest.mark.parametrize("command", ["curve", "recovered-by", "effort", "at-risk", "offenders",
                                     "channels", "templates"])
def test_every_report_prints(services, account, command):
    result = run(services, "metrics", command, *OCTOBER, "--csv")
    assert result.exit_code == 0, result.output
    assert len(result.output.splitlines()) >= 2


def test_another_account(services, account):
    result = run(services, "metrics", "rate", *OCTOBER, "--account", hand_built.OTHER_ACCOUNT,
                 "--by", "currency", "--csv")
    assert result.output.splitlines()[1:] == ["gbp,1,0,0.0,gbp,777,0,0.0",
                                              "usd,1,1,1.0,usd,99999,99999,1.0"]


@pytest.mark.parametrize("arguments", [
    ("--start", "2026-11-01", "--end", "2026-10-01"), ("--start", "2026-10-01"),
    ("--start", "October"), ("--by", "planet"), ("--within", "0"), ("--days", "0"),
    ("--days", "999999999")])
def test_bad_options_exit_2(services, account, arguments):
    assert run(services, "metrics", "rate", *arguments).exit_code == 2
