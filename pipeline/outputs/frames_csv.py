"""frames.csv: per-frame compound labels in the ABAW compound-expression submission layout."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cer.core.result import Result
from cer.core.result_views import frame_compound_labels
from cer.pipeline.outputs.atomic import atomic_open


def write_abaw_file(
    path: Path,
    video_name: str,
    frame_labels: Sequence[int] | np.ndarray,
    compound_names: Sequence[str],
    frame_numbers: Sequence[int] | None = None,
) -> None:
    """Write an ABAW compound file: the `image_location,<compounds>` header, then one line
    `VIDEO/NNNNN.jpg,K` per frame.

    `frame_labels[i]` is the compound index of frame `frame_numbers[i]` (1-based, as the
    organisers number frames); by default frames are numbered 1, 2, ... in order. Pass the
    organisers' frame list as `frame_numbers` to follow their order exactly.
    """
    numbers = range(1, len(frame_labels) + 1) if frame_numbers is None else frame_numbers
    if len(numbers) != len(frame_labels):
        raise ValueError(f"{len(frame_labels)} frame labels for {len(numbers)} frame numbers")
    write_abaw_lines(path, [f"{video_name}/{number:05d}.jpg" for number in numbers], frame_labels, compound_names)


def write_abaw_lines(
    path: Path, image_locations: Sequence[str], frame_labels: Sequence[int] | np.ndarray, compound_names: Sequence[str]
) -> None:
    """Write an ABAW compound file with one line `LOCATION,K` per image location, in the order
    given: a whole submission follows the organisers' frame list this way, line for line."""
    bad = next((int(k) for k in frame_labels if not 0 <= k < len(compound_names)), None)
    if bad is not None:
        # -1 ("no prediction") is not allowed in a submission: fill gaps before writing.
        raise ValueError(f"frame label {bad} is outside 0..{len(compound_names) - 1}")
    with atomic_open(path) as handle:
        # Written by hand rather than with csv: the organisers' file is plain comma-joined text
        # and the header must match it byte for byte.
        handle.write(",".join(("image_location", *compound_names)) + "\n")
        handle.writelines(f"{location},{int(k)}\n" for location, k in zip(image_locations, frame_labels, strict=True))


def write_frames_csv(result: Result, path: Path) -> None:
    write_abaw_file(
        path,
        video_name=Path(result.video.path).stem,
        frame_labels=frame_compound_labels(result),
        compound_names=result.labels.compound,
    )
