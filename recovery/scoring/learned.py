"""Scoring candidate hours with an account's promoted artifact, many cases per prediction.

Rows for every candidate hour of every case go through ``ml.features.candidate_frames`` and one
``predict_success`` call per chunk (a few hundred thousand rows: big enough that the pipeline's
per-call overhead vanishes, small enough to keep memory flat). The caller decides per case on
each chunk's chances while its frame is still at hand, to read the chosen row's features and
contributions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

CHUNK_ROWS = 200_000


@dataclass(frozen=True)
class ScoredChunk:
    """Consecutive items, their rows in ``frame`` and each item's chances."""

    items: list[int]  # indexes into the scored sequence
    frame: pd.DataFrame
    starts: list[int]  # first row of each item in ``frame``
    chances: list[np.ndarray]


def candidate_times(hours: np.ndarray) -> np.ndarray:
    """Whole epoch hours as UTC ``datetime64`` (what ``candidate_frames`` reads fastest)."""
    return (np.asarray(hours, dtype=np.int64) * 3600).astype("datetime64[s]")


def score_in_chunks(artifact: Any, frames_of: Callable[[Sequence[tuple]], pd.DataFrame],
                    items: Sequence[tuple[Any, np.ndarray]],
                    chunk_rows: int = CHUNK_ROWS) -> Iterator[ScoredChunk]:
    """Chances for each ``(snapshot, candidate hours)`` item, chunk by chunk, in order."""
    chunk: list[int] = []
    rows = 0
    for index, (_snapshot, hours) in enumerate(items):
        chunk.append(index)
        rows += len(hours)
        if rows >= chunk_rows:
            yield _score(artifact, frames_of, items, chunk)
            chunk, rows = [], 0
    if chunk:
        yield _score(artifact, frames_of, items, chunk)


def _score(artifact: Any, frames_of: Callable, items: Sequence[tuple[Any, np.ndarray]],
           chunk: list[int]) -> ScoredChunk:
    pairs = [(items[i][0], candidate_times(items[i][1])) for i in chunk]
    frame = frames_of(pairs)
    chances = np.asarray(artifact.predict_success(frame), dtype=np.float64)
    sizes = np.array([len(items[i][1]) for i in chunk], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(int).tolist()
    split = [chances[start:start + size] for start, size in zip(starts, sizes, strict=True)]
    return ScoredChunk(chunk, frame, starts, split)


def rows_features(frame: pd.DataFrame, rows: Sequence[int]) -> list[dict[str, Any]]:
    """Rows of a feature frame as JSON-safe values (missing numbers as None)."""
    if not rows:
        return []
    picked = frame.iloc[list(rows)]
    columns = {str(name): picked[name].tolist() for name in picked.columns}
    return [{name: _json_safe(values[n]) for name, values in columns.items()}
            for n in range(len(picked))]


def _json_safe(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value if value is None or isinstance(value, int | float | str) else str(value)


def top_contributions(artifact: Any, frame: pd.DataFrame, rows: Sequence[int],
                      limit: int = 5) -> list[list[list]]:
    """The artifact's largest feature contributions on each of ``rows``, as [name, value] pairs.

    One prediction for all rows: ``contributions_many`` when the artifact has it, else the
    measure ``ml.registry.Artifact.contributions`` makes for one row (the chance minus the chance
    with one feature at its training reference value), batched over the rows and features."""
    if hasattr(artifact, "contributions_many"):
        found = artifact.contributions_many(frame.iloc[list(rows)])
    elif "reference" in (getattr(artifact, "metadata", None) or {}):
        found = _reference_contributions(artifact, frame.iloc[list(rows)])
    else:
        found = [artifact.contributions(frame.iloc[[row]]) for row in rows]
    return [[[str(name), round(float(value), 4)] for name, value in list(pairs)[:limit]]
            for pairs in found]


def _reference_contributions(artifact: Any, rows: pd.DataFrame) -> list[list[tuple]]:
    reference = artifact.metadata["reference"]
    columns = list(rows.columns)
    count = len(rows)
    # The rows, then one copy of them per feature with that feature at its reference value,
    # stacked and predicted at once.
    stacked = rows.iloc[np.tile(np.arange(count), len(columns) + 1)].reset_index(drop=True)
    for position, name in enumerate(columns):
        block = slice(count * (position + 1), count * (position + 2))
        value = reference.get(name)
        column = stacked[name]
        if isinstance(column.dtype, pd.CategoricalDtype):
            value = "none" if value is None else value
            if value not in column.cat.categories:
                stacked[name] = column = column.cat.add_categories([value])
            codes = column.cat.codes.to_numpy().copy()
            codes[block] = column.cat.categories.get_loc(value)
            stacked[name] = pd.Categorical.from_codes(codes, column.cat.categories)
        else:
            values = column.to_numpy().copy()
            values[block] = np.nan if value is None else value
            stacked[name] = values
    chances = np.asarray(artifact.predict_success(stacked), dtype=np.float64)
    deltas = chances[:count] - chances[count:].reshape(len(columns), count)
    return [sorted(zip(columns, deltas[:, n].tolist(), strict=True),
                   key=lambda pair: abs(pair[1]), reverse=True) for n in range(count)]
