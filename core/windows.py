"""Temporal segmentation into overlapping windows (docs/method.md)."""

from __future__ import annotations

from cer.core.types import Window

_EPS = 1e-9  # seconds; absorbs float error when a window ends exactly at the video's end


def make_windows(
    duration_s: float, fps: float, n_frames: int, length_s: float = 4.0, hop_s: float = 2.0, min_tail_s: float = 1.0
) -> list[Window]:
    """Windows of `length_s` every `hop_s`.

    A video no longer than one window is one window. Otherwise windows start every hop until
    one reaches the end; that last window runs to the end of the video and is kept only
    if it is at least `min_tail_s` long.
    """
    if duration_s <= 0:
        return []
    spans: list[tuple[float, float]] = []
    start = 0.0
    while True:
        end = start + length_s
        if end >= duration_s - _EPS:
            if not spans or duration_s - start >= min_tail_s - _EPS:
                spans.append((start, duration_s))
            break
        spans.append((start, end))
        start += hop_s
    return [
        Window(
            index=i,
            start_s=round(s, 6),
            end_s=round(e, 6),
            start_frame=min(int(s * fps), n_frames),
            end_frame=n_frames if i == len(spans) - 1 and e >= duration_s - _EPS else min(int(e * fps), n_frames),
        )
        for i, (s, e) in enumerate(spans)
    ]
