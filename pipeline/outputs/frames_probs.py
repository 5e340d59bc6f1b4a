"""frames_probs.csv: one row per video frame with the fused basic probabilities, the compound
scores and whether a face was seen; a plain table (`pandas.read_csv` reads it as it is), where
frames.csv keeps the ABAW challenge's layout.

A frame's probabilities and scores are the average over the windows covering it, as for the
labels of frames.csv; a frame that no window with an expert's answer covers has empty cells
(frames.csv carries the previous label on instead, since its layout has no "unknown").
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from cer.pipeline.face_presence import seen_per_frame
from cer.pipeline.outputs.atomic import atomic_open
from cer.pipeline.outputs.frames_csv import per_frame

_DIGITS = 6  # as windows.csv


def frame_columns(result: Mapping[str, Any]) -> list[str]:
    basic, compound = result["labels"]["basic"], result["labels"]["compound"]
    return ["frame", "time_s", "face", *(f"fused_{name}" for name in basic), *(f"compound_{name}" for name in compound)]


def write_frames_probs(result: Mapping[str, Any], path: Path) -> None:
    """`frame` counts from 0 (frames.csv numbers the same frames from 1, as the organisers do);
    `face` is 1 or 0, empty for results written before faces were recorded per frame."""
    video = result["video"]
    n_frames = video["n_frames"]
    fused = per_frame(result, lambda window: window["fused"]["probs"], len(result["labels"]["basic"]))
    scores = per_frame(result, lambda window: window["compound"]["scores"], len(result["labels"]["compound"]))
    numbers = np.round(np.hstack([fused, scores]), _DIGITS).tolist()
    spans = result["faces"].get("seen")
    faces = seen_per_frame(spans, n_frames).astype(int).tolist() if spans is not None else [None] * n_frames
    with atomic_open(path) as handle:
        writer = csv.writer(handle)
        writer.writerow(frame_columns(result))
        for frame, (face, values) in enumerate(zip(faces, numbers, strict=True)):
            cells = [None if math.isnan(value) else value for value in values]
            writer.writerow([frame, round(frame / video["fps"], _DIGITS), face, *cells])
