"""Versioned scorer artifacts of each account: saved with skops in ``model_version``, promoted,
rolled back, loaded only when they match this installation.

Artifacts are never unpickled: skops reads them and refuses any type outside ``TRUSTED_TYPES``,
an explicit list. Loading also refuses an artifact made by another scikit-learn version (its
trees need not mean the same) or for another feature set (its columns would be misread).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
import sklearn
import skops
import skops.io
from sqlalchemy import select, update
from sqlmodel import Session
from threadpoolctl import threadpool_limits

from ml.features import CATEGORICAL, FEATURE_COLUMNS
from models import ModelVersion

PREDICT_CHUNK = 500_000  # rows per predict call: bounds the memory of a big batch
TOP_CONTRIBUTIONS = 5
# Every type an artifact of ``ml.training`` is made of; anything else is refused unread.
TRUSTED_TYPES = (
    "ml.encoding.CategoryCodes",
    "sklearn.pipeline.Pipeline",
    "sklearn.calibration.CalibratedClassifierCV",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.isotonic.IsotonicRegression",
    "sklearn.frozen._frozen.FrozenEstimator",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.link.Interval",
    "sklearn._loss._loss.CyHalfBinomialLoss",
    "sklearn.utils._bunch.Bunch",
    "builtins.slice",
    # The calibrated classifier keeps input validation as a partial of check_array.
    "functools.partial",
    "sklearn.utils.validation.check_array",
    "numpy.float32",
    "numpy.float64",
    "numpy.int64",
    "numpy.dtype",
)


class ArtifactRefused(Exception):
    """An artifact this installation must not load (versions, features or types differ)."""


PARALLEL_ROWS = 50_000  # below this many rows, prediction runs on one thread


class UnknownVersion(LookupError):
    """No such artifact version for the account, or nothing to roll back to."""


@dataclass
class Artifact:
    version: str
    account_id: str
    metadata: dict
    pipeline: object  # a fitted sklearn Pipeline: category codes, then calibrated trees

    def predict_success(self, frame: pd.DataFrame) -> np.ndarray:
        """P(success) per row of a ``FEATURE_COLUMNS`` frame."""
        columns = list(FEATURE_COLUMNS)
        # Every tree is one OpenMP call: on the few hundred rows of a planning batch, starting
        # the threads costs far more than the work, so small frames run on one thread.
        threads = None if len(frame) >= PARALLEL_ROWS else 1
        with threadpool_limits(threads):
            parts = [self.pipeline.predict_proba(frame.iloc[n:n + PREDICT_CHUNK][columns])[:, 1]
                     for n in range(0, len(frame), PREDICT_CHUNK)]
        return np.concatenate(parts) if parts else np.empty(0)

    def contributions(self, frame_row, top: int = TOP_CONTRIBUTIONS) -> list[tuple[str, float]]:
        """The features that moved this row's chance most: for each, the chance minus the chance
        with that feature set to its training median (or most common value); largest first."""
        row = frame_row.to_frame().T if isinstance(frame_row, pd.Series) else frame_row.iloc[:1]
        row = row[list(FEATURE_COLUMNS)].astype(
            {name: object for name in CATEGORICAL}).reset_index(drop=True)
        reference = self.metadata.get("reference", {})
        variants = pd.concat([row] * (len(FEATURE_COLUMNS) + 1), ignore_index=True)
        for n, name in enumerate(FEATURE_COLUMNS, start=1):
            value = reference.get(name)
            variants.loc[n, name] = (value if value is not None else
                                     ("none" if name in CATEGORICAL else np.nan))
        numeric = [name for name in FEATURE_COLUMNS if name not in CATEGORICAL]
        variants[numeric] = variants[numeric].astype(np.float64)
        chances = self.predict_success(variants)
        deltas = [(name, float(chances[0] - chances[n]))
                  for n, name in enumerate(FEATURE_COLUMNS, start=1)]
        return sorted(deltas, key=lambda pair: abs(pair[1]), reverse=True)[:top]


def library_versions() -> dict[str, str]:
    return {"sklearn": sklearn.__version__, "numpy": np.__version__,
            "skops": skops.__version__, "pandas": pd.__version__}


def save_artifact(session: Session, account_id: str, pipeline, metadata: dict,
                  now: datetime) -> ModelVersion:
    """Store a new, inactive version; its name carries a hash of its bytes."""
    data = skops.io.dumps(pipeline)
    count = len(session.scalars(select(ModelVersion.id).where(
        ModelVersion.account_id == account_id)).all())
    version = f"v{count + 1}-{hashlib.sha256(data).hexdigest()[:8]}"
    details = {**metadata, "libraries": library_versions(),
               "feature_columns": list(FEATURE_COLUMNS), "categorical": list(CATEGORICAL)}
    row = ModelVersion(account_id=account_id, version=version, artifact=data, details=details,
                       active=False, created_at=now)
    session.add(row)
    session.flush()
    return row


def load_artifact(row: ModelVersion) -> Artifact:
    """The row's artifact, after checking it was made here, for these features, of known
    types only."""
    details = row.details or {}
    made_with = (details.get("libraries") or {}).get("sklearn")
    if made_with != sklearn.__version__:
        raise ArtifactRefused(
            f"artifact {row.version} was made with scikit-learn {made_with}; this installation "
            f"has {sklearn.__version__}: retrain it (`recovery train`)")
    if tuple(details.get("feature_columns") or ()) != FEATURE_COLUMNS:
        raise ArtifactRefused(
            f"artifact {row.version} was made for another feature set; retrain it "
            "(`recovery train`)")
    data = bytes(row.artifact)
    unknown = sorted(set(skops.io.get_untrusted_types(data=data)) - set(TRUSTED_TYPES))
    if unknown:
        raise ArtifactRefused(f"artifact {row.version} holds types not trusted: {unknown}")
    pipeline = skops.io.loads(data, trusted=list(TRUSTED_TYPES))
    return Artifact(version=row.version, account_id=row.account_id, metadata=details,
                    pipeline=pipeline)


_loaded: dict[tuple[str, str], Artifact] = {}  # (account, version): versions never change


def active_artifact(session: Session, account_id: str) -> Artifact | None:
    """The account's active artifact, read from the database once per version."""
    version = session.scalar(select(ModelVersion.version).where(
        ModelVersion.account_id == account_id, ModelVersion.active.is_(True)))
    if version is None:
        return None
    key = (account_id, version)
    if key not in _loaded:
        _loaded[key] = load_artifact(_version_row(session, account_id, version))
    return _loaded[key]


def artifact_of(session: Session, account_id: str, version: str) -> Artifact:
    return load_artifact(_version_row(session, account_id, version))


def list_versions(session: Session, account_id: str) -> list[ModelVersion]:
    """Every version of the account, newest first (artifact bytes included)."""
    return list(session.scalars(select(ModelVersion).where(
        ModelVersion.account_id == account_id).order_by(ModelVersion.id.desc())))


def promote(session: Session, account_id: str, version: str, now: datetime) -> ModelVersion:
    """Make ``version`` the active one (it must load here); the one it replaces is kept for a
    rollback."""
    row = _version_row(session, account_id, version)
    load_artifact(row)  # refuse to activate what could not be served
    current = session.scalar(select(ModelVersion.version).where(
        ModelVersion.account_id == account_id, ModelVersion.active.is_(True)))
    if current == version:
        return row
    _deactivate_all(session, account_id)
    row.active, row.promoted_at, row.replaced_version = True, now, current
    session.flush()
    return row


def rollback(session: Session, account_id: str, now: datetime) -> ModelVersion:
    """Re-activate the version the active one replaced."""
    active = session.scalar(select(ModelVersion).where(
        ModelVersion.account_id == account_id, ModelVersion.active.is_(True)))
    if active is None or active.replaced_version is None:
        raise UnknownVersion("no earlier active version to roll back to")
    previous = _version_row(session, account_id, active.replaced_version)
    load_artifact(previous)
    _deactivate_all(session, account_id)
    # The earlier version comes back with the link it had: a second rollback goes further back.
    previous.active, previous.promoted_at = True, now
    session.flush()
    return previous


def _deactivate_all(session: Session, account_id: str) -> None:
    session.execute(update(ModelVersion).where(ModelVersion.account_id == account_id,
                                               ModelVersion.active.is_(True))
                    .values(active=False))


def _version_row(session: Session, account_id: str, version: str) -> ModelVersion:
    row = session.scalar(select(ModelVersion).where(ModelVersion.account_id == account_id,
                                                    ModelVersion.version == version))
    if row is None:
        raise UnknownVersion(f"no artifact version {version!r} for account {account_id}")
    return row
