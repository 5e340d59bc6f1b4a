"""From window scores to frame labels (docs/method.md: overlap averaging, then argmax)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def spread_to_frames(spans: Sequence[tuple[int, int]], scores: np.ndarray, n_frames: int) -> np.ndarray:
    """Average the scores of every window covering each frame.

    `spans` are (start_frame, end_frame) with end exclusive; `scores` is [windows, K].
    Returns [n_frames, K]; rows of frames no window covers are NaN.
    """
    scores = np.asarray(scores, dtype=np.float64)
    totals = np.zeros((n_frames, scores.shape[1]))
    counts = np.zeros(n_frames)
    for (start, end), row in zip(spans, scores, strict=True):
        start, end = max(0, start), min(n_frames, end)
        totals[start:end] += row
        counts[start:end] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        return totals / counts[:, None]


def frame_labels(frame_scores: np.ndarray) -> np.ndarray:
    """Argmax per frame; a frame without scores takes the previous frame's label
    (frames before the first prediction take the first one)."""
    covered = ~np.isnan(frame_scores).any(axis=1)
    labels = np.full(len(frame_scores), -1, dtype=np.int64)
    if not covered.any():
        return labels
    labels[covered] = np.argmax(frame_scores[covered], axis=1)
    last = labels[np.argmax(covered)]
    for i, value in enumerate(labels):
        if value < 0:
            labels[i] = last
        else:
            last = value
    return labels
