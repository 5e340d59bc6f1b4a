"""Temporal segmentation into overlapping windows (docs/method.md)."""

from __future__ import annotations

from cer.core.types import Window

_EPS = 1e-9  # seconds; absorbs float error when a window ends exactly at the video's end


def analysed_part(duration_s: float, start_s: float = 0.0, end_s: float | None = None) -> tuple[float, float] | None:
    """The [start, end] seconds to analyse, None for the whole video. An end past the video's
    is its end, as video tools take it; a start at or past it, or an end before the start, is
    a ValueError naming the times."""
    if start_s < 0 or (end_s is not None and end_s <= start_s):
        raise ValueError(
            f"--start {start_s:g} and --end {end_s:g} name no part of a video" if end_s is not None else f"--start {start_s:g} is before 0"
        )
    if start_s >= duration_s:
        raise ValueError(f"--start {start_s:g} s is at or past the video's end ({duration_s:.2f} s)")
    end = duration_s if end_s is None else min(end_s, duration_s)
    return None if start_s == 0 and end == duration_s else (start_s, end)


def make_windows(
    duration_s: float,
    fps: float,
    n_frames: int,
    length_s: float = 4.0,
    hop_s: float = 2.0,
    min_tail_s: float = 1.0,
    span: tuple[float, float] | None = None,
) -> list[Window]:
    """Windows of `length_s` every `hop_s`, over the whole video or over `span` (start and end
    seconds of the part to analyse, on the video's own clock, as every window's times are).

    A part no longer than one window is one window. Otherwise windows start every hop until
    one reaches the end; that last window runs to the end of the part and is kept only if it
    is at least `min_tail_s` long.
    """
    first_s, last_s = span if span is not None else (0.0, duration_s)
    if last_s - first_s <= 0:
        return []
    spans: list[tuple[float, float]] = []
    start = first_s
    while True:
        end = start + length_s
        if end >= last_s - _EPS:
            if not spans or last_s - start >= min_tail_s - _EPS:
                spans.append((start, last_s))
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
