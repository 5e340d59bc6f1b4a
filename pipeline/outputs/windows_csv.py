"""windows.csv: one row per window, for spreadsheets and quick scripts (`Result.windows()` in Python)."""

from __future__ import annotations

import csv
from pathlib import Path

from cer.core.result import Result
from cer.core.result_tables import window_rows
from cer.pipeline.outputs.atomic import atomic_open


def write_windows_csv(result: Result, path: Path) -> None:
    columns, rows = window_rows(result)
    with atomic_open(path) as handle:
        # csv.DictWriter writes None as an empty cell and quotes text with commas, quotes or newlines.
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
