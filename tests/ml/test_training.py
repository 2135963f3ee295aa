"""Training: a time-ordered split, a calibrated pipeline, hold-out metrics beside a baseline."""

from __future__ import annotations

import time

import numpy as np
import pytest

from ml.dataset import attempt_dataset
from ml.training import class_base_rates, evaluate, time_split, train
from tests.ml.synthetic import write_log


@pytest.fixture
def dataset(session):
    write_log(session, customers=200, months=9)
    session.commit()
    return attempt_dataset(session, "acct_default")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_trains_fast_on_a_later_hold_out_and_beats_the_baseline(dataset):
    started = time.perf_counter()
    result = train(dataset)
    seconds = time.perf_counter() - started
    split = result.split
    assert len(split.train) + len(split.holdout) == len(dataset)
    assert split.train["attempted_at"].max() <= split.holdout["attempted_at"].min()
    assert len(split.holdout) == len(dataset) - int(len(dataset) * 0.8)
    metrics, baseline = result.metrics, result.baseline
    assert 0 < metrics.log_loss < baseline.log_loss  # the payday signal is learnable
    assert metrics.roc_auc > 0.65
    assert 0 < metrics.brier < 0.25
    assert sum(b.count for b in metrics.calibration) == len(split.holdout)
    for bin_ in metrics.calibration:
        assert bin_.low <= bin_.mean_predicted <= bin_.high
        assert 0 <= bin_.observed_rate <= 1
    assert seconds < 10  # about a second on a quiet machine (see the README)
    assert set(result.reference) >= {"decline_class", "local_hour"}


def test_metrics_by_hand():
    labels = np.array([0, 0, 1, 1])
    metrics = evaluate(labels, np.array([0.1, 0.2, 0.8, 0.9]))
    assert metrics.roc_auc == 1.0
    assert metrics.brier == pytest.approx(np.mean([0.01, 0.04, 0.04, 0.01]))
    assert metrics.log_loss == pytest.approx(-np.mean(np.log([0.9, 0.8, 0.8, 0.9])))
    assert [(b.count, b.observed_rate) for b in metrics.calibration] == [
        (1, 0.0), (1, 0.0), (1, 1.0), (1, 1.0)]
    assert evaluate(np.array([1, 1]), np.array([0.5, 0.6])).roc_auc is None


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_baseline_is_the_training_slice_class_rates(dataset):
    split = time_split(dataset)
    rates = class_base_rates(split.train, split.holdout, smoothing=0)
    for name in split.holdout["decline_class"].astype(str).unique():
        expected = split.train.loc[split.train["decline_class"].astype(str) == name, "label"]
        assert np.allclose(rates[(split.holdout["decline_class"].astype(str) == name)
                                 .to_numpy()], expected.mean())
