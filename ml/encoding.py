"""``CategoryCodes``: categorical feature columns as integer codes, fast on millions of rows.

scikit-learn's ``OrdinalEncoder`` maps object values one Python lookup at a time; the scorer
encodes millions of candidate rows per batch, so this transformer maps each column's pandas
categories once (a few dozen values) and the rows by array indexing. Output: a float32 matrix,
the categorical columns' codes (unknown or missing: NaN) then the numeric columns as given, for
``HistGradientBoostingClassifier(categorical_features=...)``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted


class CategoryCodes(TransformerMixin, BaseEstimator):
    """Integer codes for ``categorical`` columns, most frequent first, at most ``max_codes``
    per column (the rest read as missing); ``numeric`` columns pass through."""

    def __init__(self, categorical: tuple[str, ...] = (), numeric: tuple[str, ...] = (),
                 max_codes: int = 250) -> None:
        self.categorical = categorical
        self.numeric = numeric
        self.max_codes = max_codes

    def fit(self, X: pd.DataFrame, y=None) -> CategoryCodes:
        self.vocabulary_ = {
            name: [str(value) for value in
                   X[name].astype(str).value_counts().index[:self.max_codes]]
            for name in self.categorical
        }
        self.n_features_in_ = len(self.categorical) + len(self.numeric)
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "vocabulary_")
        out = np.empty((len(X), len(self.categorical) + len(self.numeric)), dtype=np.float32)
        for n, name in enumerate(self.categorical):
            out[:, n] = self._codes(X[name], self.vocabulary_[name])
        for n, name in enumerate(self.numeric, start=len(self.categorical)):
            out[:, n] = X[name].to_numpy(dtype=np.float32, na_value=np.nan)
        return out

    @staticmethod
    def _codes(column: pd.Series, vocabulary: list[str]) -> np.ndarray:
        if not isinstance(column.dtype, pd.CategoricalDtype):
            column = column.astype(str).astype("category")
        lookup = pd.Index(vocabulary).get_indexer(column.cat.categories.astype(str))
        lookup = np.where(lookup >= 0, lookup, np.nan).astype(np.float32)
        codes = column.cat.codes.to_numpy()
        if len(lookup) == 0:
            return np.full(len(codes), np.nan, dtype=np.float32)
        return np.where(codes >= 0, lookup.take(np.maximum(codes, 0)), np.nan)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        return np.array([*self.categorical, *self.numeric], dtype=object)
