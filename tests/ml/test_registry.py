"""The registry: skops artifacts in the database, checked on load, promoted and rolled back."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import numpy as np
import pytest
import skops.io
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from ml.dataset import attempt_dataset
from ml.features import FEATURE_COLUMNS
from ml.registry import (
    ArtifactRefused,
    UnknownVersion,
    active_artifact,
    artifact_of,
    list_versions,
    load_artifact,
    promote,
    rollback,
    save_artifact,
)
from ml.training import train
from tests.ml.synthetic import write_log

ACCOUNT = "acct_default"
NOW = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.fixture
def trained(session):
    write_log(session, customers=120, months=6)
    session.commit()
    dataset = attempt_dataset(session, ACCOUNT)
    return dataset, train(dataset)


def store(session, result, metadata=None):
    return save_artifact(session, ACCOUNT, result.pipeline,
                         {"reference": result.reference, **(metadata or {})}, NOW)


def test_saved_artifact_loads_and_predicts_the_same(session, trained):
    dataset, result = trained
    row = store(session, result)
    session.commit()
    assert row.details["libraries"]["sklearn"] and row.details["feature_columns"] == list(
        FEATURE_COLUMNS)
    artifact = artifact_of(session, ACCOUNT, row.version)
    frame = dataset.loc[:, list(FEATURE_COLUMNS)]
    expected = result.pipeline.predict_proba(frame)[:, 1]
    assert np.allclose(artifact.predict_success(frame), expected)
    top = artifact.contributions(frame.iloc[[0]])
    assert 1 <= len(top) <= 5 and all(name in FEATURE_COLUMNS for name, _ in top)
    assert abs(top[0][1]) >= abs(top[-1][1])


def test_refuses_another_scikit_learn_version(session, trained):
    row = store(session, trained[1])
    row.details = {**row.details, "libraries": {**row.details["libraries"], "sklearn": "0.24.2"}}
    with pytest.raises(ArtifactRefused, match="scikit-learn 0.24.2"):
        load_artifact(row)


def test_refuses_another_feature_set(session, trained):
    row = store(session, trained[1])
    row.details = {**row.details, "feature_columns": [*FEATURE_COLUMNS[:-1], "shoe_size"]}
    with pytest.raises(ArtifactRefused, match="another feature set"):
        load_artifact(row)


def test_refuses_untrusted_types_without_running_them(session, trained):
    row = store(session, trained[1])
    row.artifact = skops.io.dumps(Pipeline([("f", FunctionTransformer(os.system))]))
    with pytest.raises(ArtifactRefused, match="system"):
        load_artifact(row)


def test_promote_then_rollback(session, trained):
    first = store(session, trained[1])
    second = store(session, trained[1], {"note": "second"})
    assert first.version != second.version
    assert active_artifact(session, ACCOUNT) is None
    promote(session, ACCOUNT, first.version, NOW)
    promote(session, ACCOUNT, second.version, NOW)
    session.commit()
    assert active_artifact(session, ACCOUNT).version == second.version
    assert [r.version for r in list_versions(session, ACCOUNT) if r.active] == [second.version]
    back = rollback(session, ACCOUNT, NOW)
    session.commit()
    assert back.version == first.version
    assert active_artifact(session, ACCOUNT).version == first.version
    with pytest.raises(UnknownVersion):
        rollback(session, ACCOUNT, NOW)  # the first version replaced nothing
    with pytest.raises(UnknownVersion):
        promote(session, ACCOUNT, "v99-missing", NOW)


def test_a_version_that_cannot_load_is_never_promoted(session, trained):
    row = store(session, trained[1])
    row.details = {**row.details, "libraries": {**row.details["libraries"], "sklearn": "0.1"}}
    session.flush()
    with pytest.raises(ArtifactRefused):
        promote(session, ACCOUNT, row.version, NOW)
    assert active_artifact(session, ACCOUNT) is None


def test_the_scorers_batched_contributions_equal_the_row_by_row_ones(session, trained):
    from recovery.scoring.learned import top_contributions

    dataset, result = trained
    artifact = artifact_of(session, ACCOUNT, store(session, result).version)
    frame = dataset.loc[:, list(FEATURE_COLUMNS)].reset_index(drop=True)
    rows = [0, 7, len(frame) - 1]
    batched = top_contributions(artifact, frame, rows, limit=5)
    for row, found in zip(rows, batched, strict=True):
        single = artifact.contributions(frame.iloc[[row]], top=5)
        assert [name for name, _ in found] == [name for name, _ in single]
        assert np.allclose([v for _, v in found], [round(v, 4) for _, v in single], atol=1e-4)
