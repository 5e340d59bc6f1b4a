"""frames_probs.csv: one row per video frame with the fused basic probabilities, the compound
scores and whether a face was seen; a plain table (`pandas.read_csv` reads it as it is, and
`Result.frames()` gives the same rows), where frames.csv keeps the ABAW challenge's layout.

A frame's probabilities and scores are the average over the windows covering it, as for the
labels of frames.csv; a frame that no window with an expert's answer covers has empty cells
(frames.csv carries the previous label on instead, since its layout has no "unknown").
"""

from __future__ import annotations

import csv
from pathlib import Path

from cer.core.result import Result
from cer.core.result_tables import frame_rows
from cer.pipeline.outputs.atomic import atomic_open


def write_frames_probs(result: Result, path: Path) -> None:
    """`frame` counts from 0 (frames.csv numbers the same frames from 1, as the organisers do)."""
    columns, rows = frame_rows(result)
    with atomic_open(path) as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
