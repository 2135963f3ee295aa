"""The simulation's recovery figures are the recovery-rate reports' answer on the run's database:
the same cohort (failures after the warm-up, before the last renewal) and N = 30 days."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, select

from models import RecoveryCase
from recovery.reports.cohort import Period
from recovery.reports.recovery_curve import recovery_curve
from recovery.reports.recovery_rates import recovery_rate
from recovery.runtime.db import make_engine
from recovery.runtime.settings import Settings
from recovery.sandbox.policies import fixed
from recovery.sandbox.run import SimulationConfig
from recovery.sandbox.simulate import run_policy

ACCOUNT = Settings.model_fields["account_id"].default


def test_the_simulation_rate_is_the_metrics_reports_rate(tmp_path):
    config = SimulationConfig(subscribers=60, days=20, warmup_days=5, seed=7)
    database = tmp_path / "run.db"
    figures = run_policy(config, fixed((1, 3, 5)), keep_database=database)
    period = Period(config.start + timedelta(days=config.warmup_days),
                    config.start + timedelta(days=config.days), 30)
    engine = make_engine(f"sqlite:///{database}")
    try:
        with Session(engine) as session:
            rates = recovery_rate(session, ACCOUNT, period)
            by_currency = recovery_rate(session, ACCOUNT, period, by="currency")
            curve = recovery_curve(session, ACCOUNT, period)
            cohort = list(session.exec(select(RecoveryCase).where(
                RecoveryCase.first_failed_at >= period.start,
                RecoveryCase.first_failed_at < period.end)))
    finally:
        engine.dispose()
    assert figures.failed_invoices == rates.total.cases > 0
    assert figures.recovered == rates.total.recovered > 0
    assert figures.recovery_rate == rates.total.rate
    assert figures.recovered_by_day == [point.share for point in curve.points]
    # The run's amounts add every currency's (nominally, as its comparison always has).
    assert len(by_currency.rows) > 1
    assert figures.failed_amount == sum(row.amount_due for row in by_currency.rows)
    # ... and all of it is what the cases themselves say.
    recovered = [c for c in cohort if c.status == "recovered"
                 and c.closed_at - c.first_failed_at <= timedelta(days=30)]
    assert (len(cohort), len(recovered)) == (figures.failed_invoices, figures.recovered)
    assert figures.failed_amount == sum(c.amount_due for c in cohort)
    assert figures.recovered_amount == sum(c.amount_due for c in recovered)
