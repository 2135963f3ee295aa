"""The promotion rule: a new version becomes active only if it beats the baseline and the
active version on the same (new) hold-out; too little history trains nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from ml.dataset import attempt_dataset
from ml.promotion import train_and_maybe_promote
from ml.registry import active_artifact, list_versions, promote, rollback, save_artifact
from ml.training import fit_calibrated, reference_values, time_split
from tests.ml.synthetic import write_log

ACCOUNT = "acct_default"
NOW = datetime(2027, 1, 1, tzinfo=UTC)


def test_too_few_attempts_train_nothing(session):
    write_log(session, customers=10, months=2)
    session.commit()
    outcome = train_and_maybe_promote(session, ACCOUNT, now=NOW, min_attempts=500)
    assert not outcome.promoted and outcome.version is None
    assert "fewer than the 500 needed" in outcome.reason
    assert list_versions(session, ACCOUNT) == []


def test_a_better_model_is_promoted_and_rollback_restores_the_previous(session):
    write_log(session, customers=200, months=9)
    session.commit()
    dataset = attempt_dataset(session, ACCOUNT, until=NOW)
    # The active version learned from shuffled outcomes: it knows nothing of paydays.
    shuffled = dataset.assign(label=dataset["label"].sample(frac=1, random_state=3).to_numpy())
    weak = save_artifact(session, ACCOUNT, fit_calibrated(time_split(shuffled).train),
                         {"reference": reference_values(dataset)}, NOW)
    promote(session, ACCOUNT, weak.version, NOW)
    session.commit()
    messages = []
    outcome = train_and_maybe_promote(session, ACCOUNT, now=NOW, progress=messages.append)
    session.commit()
    assert outcome.promoted, outcome.reason
    assert outcome.metrics.log_loss < outcome.active_metrics.log_loss
    assert outcome.metrics.log_loss < outcome.baseline.log_loss
    assert f"active {weak.version}" in outcome.reason
    assert messages[0] == "reading the attempt log" and messages[-1].startswith("promoting")
    assert active_artifact(session, ACCOUNT).version == outcome.version
    rollback(session, ACCOUNT, NOW)
    session.commit()
    assert active_artifact(session, ACCOUNT).version == weak.version


def test_no_signal_is_not_promoted(session):
    write_log(session, customers=200, months=9, learnable=False)
    session.commit()
    outcome = train_and_maybe_promote(session, ACCOUNT, now=NOW)
    assert not outcome.promoted
    assert "does not beat the decline-class baseline" in outcome.reason
    assert active_artifact(session, ACCOUNT) is None
    assert len(list_versions(session, ACCOUNT)) == 1  # kept, inactive, for a look
    # Scheduled retraining keeps only what it promotes.
    again = train_and_maybe_promote(session, ACCOUNT, now=NOW, keep_rejected=False)
    assert not again.promoted and again.version is None
    assert len(list_versions(session, ACCOUNT)) == 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_model_worse_than_the_active_one_is_not_promoted(session):
    """The active version has learned from the very rows the new hold-out holds: on them the
    new version cannot beat it, so it stays inactive."""
    write_log(session, customers=200, months=9)
    session.commit()
    dataset = attempt_dataset(session, ACCOUNT, until=NOW)
    holdout = time_split(dataset).holdout
    # Trees fitted on the hold-out first (fit_calibrated fits on the leading rows).
    seen = pd.concat([holdout, holdout, dataset.drop(holdout.index)], ignore_index=True)
    oracle = fit_calibrated(seen)
    row = save_artifact(session, ACCOUNT, oracle, {"reference": reference_values(dataset)}, NOW)
    promote(session, ACCOUNT, row.version, NOW)
    session.commit()
    outcome = train_and_maybe_promote(session, ACCOUNT, now=NOW)
    assert outcome.metrics.log_loss < outcome.baseline.log_loss
    assert not outcome.promoted, outcome.reason
    assert "does not beat the active version" in outcome.reason
    assert active_artifact(session, ACCOUNT).version == row.version
