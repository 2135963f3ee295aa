"""The scheduled retraining job: only smart-timing accounts train, only promoted versions are
kept, and a log that has not grown is not trained again."""

from __future__ import annotations

from datetime import timedelta

from ml.registry import active_artifact, list_versions
from models import Account
from recovery.worker.jobs import job_specs, retrain_scorers
from tests.ml.synthetic import write_log


def set_timing(services, timing: str) -> None:
    with services.sessions() as session:
        account = session.get(Account, "acct_default")
        account.policy = {**(account.policy or {}), "timing": timing}
        session.add(account)
        session.commit()


def test_smart_accounts_retrain_on_schedule_and_promote_what_beats_the_baseline(services):
    with services.sessions() as session:
        write_log(session, customers=200, months=9)
        session.commit()
    services.clock.set(services.clock.now() + timedelta(days=400))  # after the whole log
    services.settings.smart_min_attempts = 500

    set_timing(services, "fixed")
    assert retrain_scorers(services) == 0  # a fixed-timing account is never trained
    with services.sessions() as session:
        assert list_versions(session, "acct_default") == []

    set_timing(services, "smart")
    assert retrain_scorers(services) == 1
    with services.sessions() as session:
        versions = list_versions(session, "acct_default")
        assert len(versions) == 1 and active_artifact(session, "acct_default") is not None
    assert retrain_scorers(services) == 0  # nothing new on record: not trained again
    with services.sessions() as session:
        assert len(list_versions(session, "acct_default")) == 1


def test_the_job_is_scheduled_nightly_by_default():
    spec = next(s for s in job_specs(1.0) if s.name == "retrain_scorers")
    assert spec.every_seconds == 24 * 3600
