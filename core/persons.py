"""Persons: face tracks joined across breaks, and how much each person's mouth moves.

The IoU tracker (cer.core.faces) ends a track after a few missed sampled frames, so a person
who turns away, is hidden for a moment or is missed by the detector comes back as a new track.
`PersonTracker` joins such a track to the person who left within `join_gap_s`, near where
they left and at a like size, so that a person keeps one id over the video. Only positions and
sizes are compared: no face embedding (an identity) is made or kept (docs/service.md, privacy).

A person's mouth motion on a sampled frame is how much the lower middle of their face box
changed since their previous sampled frame: the mean absolute difference of the two patches,
each resampled to a fixed size and normalised for brightness and contrast, so that lighting
and face size do not count. cer.core.speakers reads it to tell who speaks.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from cer.core.config import PersonsConfig
from cer.core.types import FaceBox, SampledFrame

MOUTH_PATCH = (12, 24)  # rows x columns every mouth region is resampled to
# The mouth region, as fractions of the face box: the middle half across, the lowest 35 % down
# (detector boxes end about at the chin)
_MOUTH_X = (0.25, 0.75)
_MOUTH_Y = (0.65, 1.0)
_CONTRAST_FLOOR = 8.0  # grey levels added to a patch's spread, so a flat patch's noise is not magnified


def mouth_patch(image: np.ndarray, box: FaceBox) -> np.ndarray:
    """The mouth region of `box` on an RGB image, resampled to MOUTH_PATCH, made grey and normalised."""
    width, height = box.x1 - box.x0, box.y1 - box.y0
    rows = np.linspace(box.y0 + _MOUTH_Y[0] * height, box.y0 + _MOUTH_Y[1] * height, MOUTH_PATCH[0])
    cols = np.linspace(box.x0 + _MOUTH_X[0] * width, box.x0 + _MOUTH_X[1] * width, MOUTH_PATCH[1])
    rows = np.clip(rows.round().astype(int), 0, image.shape[0] - 1)
    cols = np.clip(cols.round().astype(int), 0, image.shape[1] - 1)
    # grey after sampling: the few pixels of the patch, not the whole frame (7 ms a 960 x 540 frame)
    patch = image[np.ix_(rows, cols)].mean(axis=2, dtype=np.float32)
    return (patch - patch.mean()) / (patch.std() + _CONTRAST_FLOOR)


@dataclass
class _Sighting:
    box: FaceBox
    t_s: float
    frame: int  # number of the sampled frame
    mouth: np.ndarray


class PersonTracker:
    """Gives every tracked face a person id (from 1, in order of appearance) and its mouth motion."""

    def __init__(self, config: PersonsConfig) -> None:
        self.config = config
        self._person_of_track: dict[int, int] = {}
        self._last: dict[int, _Sighting] = {}  # person -> where and when last seen
        self._frame = -1

    @property
    def persons_seen(self) -> int:
        return len(self._last)

    def update(self, frame: SampledFrame) -> None:
        """Set `person` and `mouth_motion` on the boxes of the next sampled frame (tracked, in time order)."""
        self._frame += 1
        if not frame.faces:
            return
        known = {self._person_of_track[b.track_id] for b in frame.faces if b.track_id in self._person_of_track}
        boxes = []
        for box in frame.faces:
            person = self._person_of_track.get(box.track_id)
            if person is None:
                person = self._left_here(box, frame.t_s, known) or len(self._last) + 1
                self._person_of_track[box.track_id] = person
                known.add(person)
            mouth = mouth_patch(frame.image, box)
            last = self._last.get(person)
            motion = float(np.abs(mouth - last.mouth).mean()) if last is not None and last.frame == self._frame - 1 else None
            self._last[person] = _Sighting(box, frame.t_s, self._frame, mouth)
            boxes.append(replace(box, person=person, mouth_motion=motion))
        frame.faces = boxes

    def _left_here(self, box: FaceBox, t_s: float, visible: set[int]) -> int | None:
        """The person not in view who left within `join_gap_s`, nearest to `box`, if one is near
        enough and of a like size."""
        cfg = self.config
        best: tuple[float, int] | None = None
        for person, seen in self._last.items():
            if person in visible or t_s - seen.t_s > cfg.join_gap_s:
                continue
            side, seen_side = _side(box), _side(seen.box)
            if max(side, seen_side) > cfg.join_size_ratio * min(side, seen_side):
                continue
            distance = float(np.hypot(*np.subtract(_centre(box), _centre(seen.box))))
            if distance <= cfg.join_distance * max(side, seen_side) and (best is None or distance < best[0]):
                best = (distance, person)
        return best[1] if best else None


def _side(box: FaceBox) -> float:
    return max(box.x1 - box.x0, box.y1 - box.y0, 1.0)


def _centre(box: FaceBox) -> tuple[float, float]:
    return (box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2
