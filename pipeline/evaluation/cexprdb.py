"""C-EXPR-DB, the ABAW compound-expression test set: test only, never tuned on (docs/batch-and-evaluation.md).

Inputs: a folder of videos, and the organisers' frame list, a CSV file with an
`image_location` column of `VIDEO/NNNNN.jpg` entries (frames numbered from 1). Output: the
submission file, one line per frame-list line in the same order, each with its compound index;
a frame no scored window covers takes the previous line's label.

Labels, when given (they are not public for the challenge part), follow the AffWild2 layout:
`LABELS/VIDEO.txt` with the seven compound names on the first line, then one label 0..6 per
frame, -1 to ignore. Metrics are then computed on the frame-list lines that have a label:
exactly what the submission says, scored as docs/batch-and-evaluation.md says (macro F1 over all seven).
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

import numpy as np

from cer.core.config import Profile
from cer.core.frames import frame_labels
from cer.core.labels import COMPOUND
from cer.pipeline.evaluation.collect import VideoExperts
from cer.pipeline.evaluation.corpus import Corpus, Scores, Targets, frame_scores, read_frame_labels, videos_by_stem
from cer.pipeline.outputs.frames_csv import write_abaw_lines

SUBMISSION = "submission.txt"


def read_frame_list(path: Path) -> list[tuple[str, str, int]]:
    """Each line of the organisers' frame list as (image location, video name, frame number)."""
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    if not rows or "image_location" not in [cell.strip() for cell in rows[0]]:
        raise ValueError(f"{path}: the first line must name an image_location column")
    column = [cell.strip() for cell in rows[0]].index("image_location")
    lines = []
    for number, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        location = row[column].strip()
        video, _, image = location.rpartition("/")
        frame = Path(image).stem
        if not video or not frame.isdigit() or int(frame) < 1:
            raise ValueError(f"{path}, line {number}: {location!r} is not VIDEO/NNNNN.jpg (frames count from 1)")
        lines.append((location, video, int(frame)))
    if not lines:
        raise ValueError(f"{path}: the frame list is empty")
    return lines


class CExprDb(Corpus):
    dataset = "C-EXPR-DB"
    compound = True
    levels: ClassVar[tuple[str, ...]] = ("frame",)

    def __init__(self, videos: Path, frame_list: Path, labels: Path | None = None) -> None:
        self.videos_dir = Path(videos).expanduser().resolve()
        self.frame_list = Path(frame_list).expanduser().resolve()
        self.lines = read_frame_list(self.frame_list)
        by_stem = videos_by_stem(self.videos_dir)
        names = list(dict.fromkeys(video for _, video, _ in self.lines))
        missing = [name for name in names if name not in by_stem]
        if missing:
            listed = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
            raise FileNotFoundError(f"{self.videos_dir}: the frame list names {len(missing)} video(s) not found there: {listed}")
        self.video_files = {name: by_stem[name] for name in names}
        self.labels_dir = Path(labels).expanduser().resolve() if labels else None
        self.labels: dict[str, np.ndarray] = {}
        if self.labels_dir is not None:
            files = {name: self.labels_dir / f"{name}.txt" for name in names}
            self.labels = {name: read_frame_labels(path, COMPOUND) for name, path in files.items() if path.is_file()}
            if not self.labels:
                raise FileNotFoundError(f"{self.labels_dir}: no label file (VIDEO.txt) for any video of the frame list")

    @property
    def spec(self) -> str:
        return f"c-expr-db:{self.videos_dir}:{self.frame_list}"

    @property
    def split(self) -> str:
        return "test"

    @property
    def labelled(self) -> bool:
        return bool(self.labels)

    def videos(self) -> list[Path]:
        return list(self.video_files.values())

    def class_names(self, profile: Profile) -> list[str]:
        if list(profile.compound.vocabulary) != list(COMPOUND):
            raise ValueError("C-EXPR-DB is scored over its own seven compounds: use the default compound vocabulary")
        return list(COMPOUND)

    def line_predictions(self, data: Mapping[Path, VideoExperts], scores: Scores) -> np.ndarray:
        """The compound index of every frame-list line, in its order."""
        videos = np.array([video for _, video, _ in self.lines])
        numbers = np.array([number for _, _, number in self.lines])
        # One score row per line (NaN where no window covers the frame), then argmax; a gap takes
        # the previous line's label.
        rows = np.full((len(self.lines), len(COMPOUND)), np.nan)
        for name, path in self.video_files.items():
            lines = np.flatnonzero(videos == name)
            spread = frame_scores(data[path], scores[path], max(numbers[lines].max(), data[path].n_frames))
            rows[lines] = spread[numbers[lines] - 1]
        return frame_labels(rows)

    def targets(self, data: Mapping[Path, VideoExperts], scores: Scores) -> Targets:
        if not self.labels:
            return {}
        truth = []
        for _, video, number in self.lines:
            labels = self.labels.get(video)
            truth.append(labels[number - 1] if labels is not None and number <= len(labels) else -1)
        y_true = np.array(truth, dtype=np.int64)
        keep = y_true >= 0
        return {"frame": (y_true[keep], self.line_predictions(data, scores)[keep])}

    def write_predictions(self, out_dir: Path, data: Mapping[Path, VideoExperts], scores: Scores) -> Path:
        labels = self.line_predictions(data, scores)
        if np.any(labels < 0):
            raise ValueError("no expert gave a prediction in any window of any video: there is nothing to submit")
        path = out_dir / SUBMISSION
        write_abaw_lines(path, [location for location, _, _ in self.lines], labels, list(COMPOUND))
        return path
