"""AffWild2 expression annotations: one `.txt` per video in an annotations folder (the split,
e.g. `Validation_Set`), the 8 class names on the first line, then one label per frame, -1 for
frames to ignore.

    VIDEOS/1-30-1280x720.mp4       ANNOTATIONS/1-30-1280x720.txt
    VIDEOS/video10_1.mp4           ANNOTATIONS/video10_1_left.txt, video10_1_right.txt

A video with two annotated people has two files (`_left`, `_right`). cer follows the main face
track only, so both are scored against the same predictions (a known limit for those videos).

Frame level (the headline): window scores spread to frames (docs/method.md). Window level: each
window's label is the most frequent one among its annotated frames.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

import numpy as np

from cer.core.labels import BASIC
from cer.pipeline.evaluation.collect import VideoExperts
from cer.pipeline.evaluation.corpus import (
    Corpus,
    Scores,
    Targets,
    frame_predictions,
    read_frame_labels,
    videos_by_stem,
    window_predictions,
    window_targets,
)

PERSON_SUFFIXES = ("_left", "_right")  # annotation names of videos with two annotated people


def _video_for(stem: str, videos: Mapping[str, Path]) -> Path | None:
    if stem in videos:
        return videos[stem]
    for suffix in PERSON_SUFFIXES:
        if stem.endswith(suffix) and stem.removesuffix(suffix) in videos:
            return videos[stem.removesuffix(suffix)]
    return None


class AffWild2(Corpus):
    dataset = "AffWild2"
    levels: ClassVar[tuple[str, ...]] = ("frame", "window")

    def __init__(self, videos: Path, annotations: Path) -> None:
        self.videos_dir = Path(videos).expanduser().resolve()
        self.annotations_dir = Path(annotations).expanduser().resolve()
        files = sorted(self.annotations_dir.glob("*.txt")) if self.annotations_dir.is_dir() else []
        if not files:
            raise FileNotFoundError(f"{self.annotations_dir}: no annotation files (*.txt)")
        by_stem = videos_by_stem(self.videos_dir)
        matched = {f: video for f in files if (video := _video_for(f.stem, by_stem)) is not None}  # annotation file -> video
        unmatched = [f.stem for f in files if f not in matched]
        if unmatched:
            listed = ", ".join(unmatched[:5]) + (" ..." if len(unmatched) > 5 else "")
            raise FileNotFoundError(f"{self.videos_dir}: no video for {len(unmatched)} annotation file(s): {listed}")
        # annotation name -> (its video, its per-frame labels)
        self.items = {f.stem: (video, read_frame_labels(f, BASIC)) for f, video in matched.items()}

    @property
    def spec(self) -> str:
        return f"affwild2:{self.videos_dir}:{self.annotations_dir}"

    @property
    def split(self) -> str:
        return self.annotations_dir.name

    def videos(self) -> list[Path]:
        return list(dict.fromkeys(video for video, _ in self.items.values()))

    def targets(self, data: Mapping[Path, VideoExperts], scores: Scores) -> Targets:
        frames_true, frames_pred, windows_true, windows_pred = [], [], [], []
        for video, labels in self.items.values():
            annotated = labels >= 0
            frames_true.append(labels[annotated])
            frames_pred.append(frame_predictions(data[video], scores[video], len(labels))[annotated])
            targets = window_targets(data[video], labels)
            windows_true.append(targets[targets >= 0])
            windows_pred.append(window_predictions(scores[video])[targets >= 0])
        return {
            "frame": (np.concatenate(frames_true), np.concatenate(frames_pred)),
            "window": (np.concatenate(windows_true), np.concatenate(windows_pred)),
        }

    def window_labels(self, data: Mapping[Path, VideoExperts]) -> list[tuple[Path, np.ndarray]]:
        return [(video, window_targets(data[video], labels)) for video, labels in self.items.values()]
