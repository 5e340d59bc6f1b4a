"""Face detection and tracking on sampled frames.

The runner feeds a video chunk by chunk; `FaceTracker` keeps its tracks between chunks so
that a face keeps its track id across chunk boundaries. Per chunk, the main track is the
face with the most (area x score) summed over the chunk's frames: large, confident and
present often. Each frame keeps the main track's box beside its image, and every face model
cuts its own crop from them (cer.core.face_crops): the models were
trained on different crops of a face (modalities/static_face.py documents each).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from cer.core.config import FaceConfig, PersonsConfig
from cer.core.face_detectors import load_detector
from cer.core.persons import PersonTracker
from cer.core.types import FaceBox, SampledFrame

NO_TRACK = -1


def iou(a: FaceBox, b: FaceBox) -> float:
    """Intersection over union of two boxes (0 when they do not overlap)."""
    inter_w = min(a.x1, b.x1) - max(a.x0, b.x0)
    inter_h = min(a.y1, b.y1) - max(a.y0, b.y0)
    if inter_w <= 0 or inter_h <= 0:
        return 0.0
    inter = inter_w * inter_h
    return inter / (a.area + b.area - inter)


@dataclass
class _Track:
    last_box: FaceBox
    last_seen: int  # number of the sampled frame where the track was last matched


class IouTracker:
    """Greedy IoU tracking: each new box continues the free track it overlaps most.

    Frames are numbered across calls, so tracks carry over from one chunk to the next.
    """

    def __init__(self, min_iou: float, max_gap: int) -> None:
        self.min_iou = min_iou
        self.max_gap = max_gap
        self._tracks: dict[int, _Track] = {}
        self._next_id = 0
        self._frame = -1

    @property
    def tracks_started(self) -> int:
        return self._next_id

    def update(self, boxes: list[FaceBox]) -> list[FaceBox]:
        """The boxes of the next sampled frame, each with its track id."""
        self._frame += 1
        self._end_stale_tracks()
        matches = self._greedy_matches(boxes)
        tracked = []
        for i, box in enumerate(boxes):
            track_id = matches.get(i)
            if track_id is None:
                track_id = self._next_id
                self._next_id += 1
            tracked.append(replace(box, track_id=track_id))
            self._tracks[track_id] = _Track(tracked[-1], self._frame)
        return tracked

    def _end_stale_tracks(self) -> None:
        stale = [tid for tid, track in self._tracks.items() if self._frame - track.last_seen - 1 > self.max_gap]
        for tid in stale:
            del self._tracks[tid]

    def _greedy_matches(self, boxes: list[FaceBox]) -> dict[int, int]:
        """Box index -> track id, taking the best-overlapping pairs first."""
        pairs = [
            (overlap, i, tid)
            for i, box in enumerate(boxes)
            for tid, track in self._tracks.items()
            # boxes that do not overlap never continue a track, even with min_iou = 0
            if (overlap := iou(box, track.last_box)) > 0 and overlap >= self.min_iou
        ]
        matches: dict[int, int] = {}
        used_tracks: set[int] = set()
        for _, i, tid in sorted(pairs, key=lambda p: (-p[0], p[1], p[2])):
            if i not in matches and tid not in used_tracks:
                matches[i] = tid
                used_tracks.add(tid)
        return matches


def interpolated(before: SampledFrame, after: SampledFrame, t_s: float) -> list[FaceBox]:
    """The faces tracked on both frames (by track), placed for time `t_s` between them: each
    corner moved in proportion to the time, the lower score kept."""
    share = (t_s - before.t_s) / (after.t_s - before.t_s)
    earlier = {box.track_id: box for box in before.faces}
    return [
        replace(
            box,
            x0=start.x0 + share * (box.x0 - start.x0),
            y0=start.y0 + share * (box.y0 - start.y0),
            x1=start.x1 + share * (box.x1 - start.x1),
            y1=start.y1 + share * (box.y1 - start.y1),
            score=min(start.score, box.score),
            person=-1,
            mouth_motion=None,
        )
        for box in after.faces
        if (start := earlier.get(box.track_id)) is not None
    ]


def main_track(frames: list[SampledFrame]) -> int:
    """The track with the largest sum of (area x score) over `frames`; NO_TRACK when faceless.

    Ties go to the older (lower) track id so the choice is deterministic.
    """
    weight: dict[int, float] = {}
    for frame in frames:
        for box in frame.faces:
            weight[box.track_id] = weight.get(box.track_id, 0.0) + box.area * box.score
    if not weight:
        return NO_TRACK
    return min(weight, key=lambda tid: (-weight[tid], tid))


class FaceTracker:
    """Detects faces on sampled frames, tracks them across chunks, joins tracks into persons
    (cer.core.persons) and marks the main face."""

    def __init__(self, config: FaceConfig, cache_dir: Path, persons: PersonsConfig | None = None) -> None:
        self.config = config
        self.persons_config = persons or PersonsConfig()
        self._detector = load_detector(config, cache_dir)
        self.detector_name: str = self._detector.name
        self.reset()

    def reset(self) -> None:
        """Forget all tracks and persons (before a new video); the detector stays loaded."""
        self._tracker = IouTracker(self.config.track_iou, self.config.max_track_gap)
        self._persons = PersonTracker(self.persons_config)
        self._sampled = 0  # sampled frames seen since the reset
        self._detected: SampledFrame | None = None  # the last frame faces were detected on

    @property
    def track_count(self) -> int:
        """Face tracks started since the last reset (one per person, when tracking holds)."""
        return self._tracker.tracks_started

    @property
    def person_count(self) -> int:
        """Persons seen since the last reset (tracks that broke and resumed on one person count once)."""
        return self._persons.persons_seen

    def detect(self, image: np.ndarray) -> list[FaceBox]:
        """Faces on one RGB uint8 image, at least `min_face_px` on each side.

        A face cut by the image border keeps the box the detector gave, partly outside the
        image: clipping it would shrink and move the face in every crop cut from it.
        """
        min_px = self.config.min_face_px
        return [box for box in self._detector.detect(image) if min(box.x1 - box.x0, box.y1 - box.y0) >= min_px]

    def process(self, frames: list[SampledFrame]) -> int:
        """Detect and track faces on a chunk's frames (in time order) and set each frame's
        `faces` and `main_box` in place. Returns the chunk's main track id, or NO_TRACK."""
        between: list[SampledFrame] = []  # frames since the last detection, placed at the next
        for position, frame in enumerate(frames):
            self._sampled += 1
            if (self._sampled - 1) % self.config.detect_every and position < len(frames) - 1:
                between.append(frame)
                continue
            frame.faces = self._tracker.update(self.detect(frame.image))
            for skipped in between:
                skipped.faces = interpolated(self._detected, frame, skipped.t_s) if self._detected else []
            for seen in (*between, frame):
                self._persons.update(seen)
            between, self._detected = [], frame
        main_id = main_track(frames)
        for frame in frames:
            frame.main_box = next((b for b in frame.faces if b.track_id == main_id), None)
        return main_id
