"""What the three dataset layouts have in common: a corpus lists its videos and, given every
video's window scores, yields (true, predicted) label arrays per level (clip, frame, window).

A window's scores are its fused basic probabilities for the basic-emotion corpora (AFEW,
AffWild2) and its compound scores for C-EXPR-DB; a row of NaN means no expert spoke in that
window. Predictions of -1 mean "no prediction" (metrics count them as wrong).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np

from cer.core.config import Profile
from cer.core.frames import frame_labels, spread_to_frames
from cer.core.labels import BASIC
from cer.pipeline.batch_inputs import VIDEO_EXTENSIONS
from cer.pipeline.evaluation.collect import VideoExperts

Targets = dict[str, tuple[np.ndarray, np.ndarray]]  # level -> (true labels, predicted labels)
Scores = Mapping[Path, np.ndarray]  # video -> [windows, classes] window scores


class Corpus(ABC):
    dataset: ClassVar[str]  # as reports name it: AFEW, AffWild2, C-EXPR-DB
    compound: ClassVar[bool] = False  # labelled with compound expressions (else basic emotions)
    levels: ClassVar[tuple[str, ...]]  # the levels it is scored at, the headline first

    @property
    @abstractmethod
    def spec(self) -> str:
        """The corpus as `cer fusion fit` names it (absolute paths), e.g. `afew:/data/AFEW:Val_AFEW`."""

    @property
    @abstractmethod
    def split(self) -> str:
        """The split it holds, as reports name it."""

    @property
    def labelled(self) -> bool:
        return True

    @abstractmethod
    def videos(self) -> list[Path]:
        """Every video to process, each once."""

    @abstractmethod
    def targets(self, data: Mapping[Path, VideoExperts], scores: Scores) -> Targets:
        """True and predicted labels per level (empty when the corpus has no labels)."""

    def class_names(self, profile: Profile) -> list[str]:
        return list(BASIC)

    def window_labels(self, data: Mapping[Path, VideoExperts]) -> list[tuple[Path, np.ndarray]]:
        """Per labelled item, its video and the basic label of each window (-1: none), to fit
        the fusion on."""
        raise NotImplementedError(f"{self.dataset} has no basic-emotion window labels to fit on")

    def write_predictions(self, out_dir: Path, data: Mapping[Path, VideoExperts], scores: Scores) -> Path | None:
        """Write whatever file the corpus's organisers expect (C-EXPR-DB: the submission)."""
        return None


def videos_by_stem(folder: Path) -> dict[str, Path]:
    """The videos under `folder` (searched recursively), by file name without extension."""
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder")
    found: dict[str, Path] = {}
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() in VIDEO_EXTENSIONS and path.is_file():
            found.setdefault(path.stem, path.resolve())
    return found


def read_frame_labels(path: Path, header: Sequence[str]) -> np.ndarray:
    """A per-frame annotation file: the class names on the first line, then one integer per
    frame (0-based class index, -1: ignore the frame), as AffWild2 distributes them."""
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not lines or [name.strip() for name in lines[0].split(",")] != list(header):
        raise ValueError(f"{path}: the first line must be {','.join(header)}")
    try:
        labels = np.array([int(line) for line in lines[1:]], dtype=np.int64)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    if np.any((labels < -1) | (labels >= len(header))):
        raise ValueError(f"{path}: labels must lie in -1..{len(header) - 1}")
    return labels


def frame_scores(video: VideoExperts, scores: np.ndarray, n_frames: int) -> np.ndarray:
    """[n_frames, classes]: per frame, the mean scores of the scored windows covering it (NaN: none)."""
    scored = ~np.isnan(scores).any(axis=1)
    spans = [span for span, keep in zip(video.spans, scored, strict=True) if keep]
    return spread_to_frames(spans, scores[scored], n_frames)


def frame_predictions(video: VideoExperts, scores: np.ndarray, n_frames: int) -> np.ndarray:
    """Per frame: argmax of `frame_scores` (docs/method.md); frames no scored window covers take the
    previous frame's label; -1 everywhere when no window is scored."""
    return frame_labels(frame_scores(video, scores, n_frames))


def window_predictions(scores: np.ndarray) -> np.ndarray:
    labels = np.full(len(scores), -1, dtype=np.int64)
    scored = ~np.isnan(scores).any(axis=1)
    labels[scored] = np.argmax(scores[scored], axis=1)
    return labels


def window_targets(video: VideoExperts, frames: np.ndarray) -> np.ndarray:
    """Per window: the most frequent label among its annotated frames (-1 when it has none)."""
    targets = np.full(len(video.windows), -1, dtype=np.int64)
    for w, (start, end) in enumerate(video.spans):
        labels = frames[start:end]
        labels = labels[labels >= 0]
        if len(labels):
            targets[w] = int(np.argmax(np.bincount(labels)))
    return targets


def clip_prediction(scores: np.ndarray) -> int:
    """A clip's label: argmax of its windows' mean scores (-1 when no window is scored)."""
    scored = ~np.isnan(scores).any(axis=1)
    return int(np.argmax(scores[scored].mean(axis=0))) if scored.any() else -1
