"""Fitting the scorer's pipeline on an attempt dataset, validated on a later time slice.

Rows are time-ordered: the first ``TRAIN_SHARE`` of them train, the rest are the hold-out.
Inside the training slice, the later part calibrates the probabilities (a frozen boosted
pipeline under ``CalibratedClassifierCV``), so every number reported was earned on rows the
step judged had not seen. Metrics on the hold-out sit beside a baseline of per-decline-class
base rates from the training slice.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from ml.encoding import CategoryCodes
from ml.features import CATEGORICAL, FEATURE_COLUMNS, NUMERIC

TRAIN_SHARE = 0.8  # of rows, by time: the rest is the hold-out
CALIBRATION_SHARE = 0.25  # of the training slice, its latest rows: fit the calibration
PROBABILITY_FLOOR = 1e-4  # keeps log loss finite for a baseline that says 0 or 1
CALIBRATION_BINS = 10


def build_pipeline(seed: int = 0) -> Pipeline:
    """Codes for the categorical columns, then boosted trees that treat them as categories.

    Few, wider trees: the scorer predicts every allowed hour of every open case (about 300
    rows per decision), and prediction time grows with the number of trees."""
    return Pipeline([
        ("codes", CategoryCodes(categorical=CATEGORICAL, numeric=NUMERIC)),
        ("boost", HistGradientBoostingClassifier(
            learning_rate=0.15, max_iter=50, max_leaf_nodes=31, min_samples_leaf=30,
            l2_regularization=1.0, categorical_features=list(range(len(CATEGORICAL))),
            early_stopping=False, random_state=seed)),
    ])


@dataclass(frozen=True)
class CalibrationBin:
    low: float
    high: float
    count: int
    mean_predicted: float
    observed_rate: float


@dataclass(frozen=True)
class Metrics:
    log_loss: float
    brier: float
    roc_auc: float | None  # None when the hold-out has one class only
    calibration: tuple[CalibrationBin, ...]

    def to_dict(self) -> dict:
        return {"log_loss": self.log_loss, "brier": self.brier, "roc_auc": self.roc_auc,
                "calibration": [bin_.__dict__ for bin_ in self.calibration]}


@dataclass(frozen=True)
class TimeSplit:
    train: pd.DataFrame
    holdout: pd.DataFrame


@dataclass
class TrainingResult:
    pipeline: Pipeline
    split: TimeSplit
    metrics: Metrics  # the new pipeline, on the hold-out
    baseline: Metrics  # per-decline-class base rates of the training slice, on the hold-out
    reference: dict = field(default_factory=dict)  # training medians / modes (explanations)


def time_split(dataset: pd.DataFrame, share: float = TRAIN_SHARE) -> TimeSplit:
    """The first ``share`` of rows by attempt time, and the rest."""
    ordered = dataset.sort_values("attempted_at", kind="stable")
    cut = int(len(ordered) * share)
    return TimeSplit(train=ordered.iloc[:cut], holdout=ordered.iloc[cut:])


TRAINING_THREADS = 1  # a few thousand rows: threads cost more than they give on a busy host


def train(dataset: pd.DataFrame, *, seed: int = 0) -> TrainingResult:
    """Fit and calibrate on the earlier rows; measure on the later ones."""
    with threadpool_limits(TRAINING_THREADS):
        return _train(dataset, seed)


def _train(dataset: pd.DataFrame, seed: int) -> TrainingResult:
    split = time_split(dataset)
    if split.train["label"].nunique() < 2:
        raise ValueError("the training slice has one outcome only: nothing to learn")
    pipeline = fit_calibrated(split.train, seed=seed)
    labels = split.holdout["label"].to_numpy()
    predicted = pipeline.predict_proba(split.holdout.loc[:, list(FEATURE_COLUMNS)])[:, 1]
    return TrainingResult(
        pipeline=pipeline, split=split, metrics=evaluate(labels, predicted),
        baseline=evaluate(labels, class_base_rates(split.train, split.holdout)),
        reference=reference_values(split.train),
    )


def fit_calibrated(rows: pd.DataFrame, *, seed: int = 0) -> Pipeline:
    """Boosted pipeline on the earlier rows, calibrated on the later ones (time order kept).

    The result is one ``Pipeline``: the category codes, then the calibrated trees."""
    cut = int(len(rows) * (1 - CALIBRATION_SHARE))
    fit_rows, calibration_rows = rows.iloc[:cut], rows.iloc[cut:]
    if fit_rows["label"].nunique() < 2 or calibration_rows["label"].nunique() < 2:
        fit_rows = calibration_rows = rows  # too few of one outcome to split: calibrate in place
    pipeline = build_pipeline(seed)
    pipeline.fit(fit_rows.loc[:, list(FEATURE_COLUMNS)], fit_rows["label"].to_numpy())
    codes, boost = pipeline.named_steps["codes"], pipeline.named_steps["boost"]
    # Isotonic needs many rows to beat a sigmoid without overfitting its steps.
    method = "isotonic" if len(calibration_rows) >= 2000 else "sigmoid"
    calibrated = CalibratedClassifierCV(FrozenEstimator(boost), method=method)
    calibrated.fit(codes.transform(calibration_rows.loc[:, list(FEATURE_COLUMNS)]),
                   calibration_rows["label"].to_numpy())
    return Pipeline([("codes", codes), ("calibrated", calibrated)])


def evaluate(labels: np.ndarray, predicted: np.ndarray) -> Metrics:
    labels = np.asarray(labels, dtype=np.int64)
    clipped = np.clip(np.asarray(predicted, dtype=np.float64), PROBABILITY_FLOOR,
                      1 - PROBABILITY_FLOOR)
    both = len(np.unique(labels)) == 2
    return Metrics(
        log_loss=float(log_loss(labels, clipped, labels=[0, 1])),
        brier=float(brier_score_loss(labels, clipped, pos_label=1)),
        roc_auc=float(roc_auc_score(labels, clipped)) if both else None,
        calibration=calibration_table(labels, clipped),
    )


def calibration_table(labels: np.ndarray, predicted: np.ndarray,
                      bins: int = CALIBRATION_BINS) -> tuple[CalibrationBin, ...]:
    """Per bin of predicted probability: rows, mean prediction, observed success rate."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(predicted, edges[1:-1]), 0, bins - 1)
    table = []
    for n in range(bins):
        mask = which == n
        if mask.any():
            table.append(CalibrationBin(
                low=float(edges[n]), high=float(edges[n + 1]), count=int(mask.sum()),
                mean_predicted=float(predicted[mask].mean()),
                observed_rate=float(labels[mask].mean())))
    return tuple(table)


def class_base_rates(train_rows: pd.DataFrame, rows: pd.DataFrame,
                     smoothing: float = 5.0) -> np.ndarray:
    """The baseline: each row's decline class's success rate in the training slice (smoothed
    toward the overall rate; the overall rate for a class never seen)."""
    overall = float(train_rows["label"].mean())
    classes = train_rows["decline_class"].astype(str)
    grouped = train_rows["label"].groupby(classes.to_numpy()).agg(["sum", "count"])
    rates = (grouped["sum"] + smoothing * overall) / (grouped["count"] + smoothing)
    looked_up = rows["decline_class"].astype(str).map(rates.to_dict())
    return looked_up.astype(float).fillna(overall).to_numpy()


def reference_values(rows: pd.DataFrame) -> dict:
    """Training medians (numeric) and modes (categorical): what a feature is replaced by when
    its contribution to one prediction is measured."""
    reference: dict = {}
    for name in NUMERIC:
        median = rows[name].median()
        reference[name] = None if pd.isna(median) else float(median)
    for name in CATEGORICAL:
        counts = rows[name].astype(str).value_counts()
        reference[name] = str(counts.index[0]) if len(counts) else None
    return reference
