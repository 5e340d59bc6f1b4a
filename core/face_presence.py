"""Where in a video a face was seen, as spans of video frames (result.json `faces.seen`).

Faces are detected on the sampled frames only (5 per second by default); each sampled frame
stands for the video frames from itself up to the next sampled one, the last up to the end of
the video. Spans keep result.json small: an hour of video is a handful of pairs, not 100,000
flags.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

Sighting = tuple[int, bool]  # (video frame index of a sampled frame, whether a face was found on it)


def seen_spans(sightings: Iterable[Sighting], n_frames: int) -> list[list[int]]:
    """`[start, end)` video frame ranges where a face was seen, in order, merged where adjacent."""
    ordered = sorted(sightings)
    spans: list[list[int]] = []
    for (frame, seen), (next_frame, _) in zip(ordered, [*ordered[1:], (n_frames, False)], strict=True):
        start, end = min(frame, n_frames), min(next_frame, n_frames)
        if not seen or end <= start:
            continue
        if spans and spans[-1][1] == start:
            spans[-1][1] = end
        else:
            spans.append([start, end])
    return spans


def seen_per_frame(spans: Sequence[Sequence[int]], n_frames: int) -> np.ndarray:
    """One flag per video frame: whether it lies in one of `spans`."""
    seen = np.zeros(n_frames, dtype=bool)
    for start, end in spans:
        seen[start:end] = True
    return seen
