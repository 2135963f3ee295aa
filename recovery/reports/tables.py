"""Every report as one plain table (column names and rows): what the CLI prints and what the CSV
answers of the CLI and the API contain, so both show exactly the same figures."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class ReportTable:
    columns: tuple[str, ...]
    rows: tuple[tuple, ...]


def to_csv(table: ReportTable) -> str:
    """CSV (RFC 4180 quoting, newline line ends) with a header line; rates are written in full
    (``repr`` of the float)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(table.columns)
    writer.writerows(_cells(row) for row in table.rows)
    return buffer.getvalue()


def _cells(row: Sequence) -> list[str]:
    return ["" if value is None else repr(value) if isinstance(value, float) else str(value)
            for value in row]
