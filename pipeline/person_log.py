"""Gathers each person's boxes and window records over a run and makes the result's persons."""

from __future__ import annotations

from collections.abc import Sequence

from cer.core.result import Person, PersonBox, WindowResult
from cer.core.speakers import NO_SPEECH, NO_VOICE_ACTIVITY
from cer.core.types import SampledFrame
from cer.pipeline.result import summary

_NO_SPEECH_BASES = (NO_SPEECH, NO_VOICE_ACTIVITY)


class PersonLog:
    """Boxes of every person seen and the records of the windows where they were scored."""

    def __init__(self) -> None:
        self._boxes: dict[int, list[PersonBox]] = {}
        self._windows: dict[int, list[WindowResult]] = {}

    def saw(self, frames: Sequence[SampledFrame]) -> None:
        """Note the persons' boxes on newly decoded frames, as fractions of each frame's size."""
        for frame in frames:
            height, width = frame.image.shape[:2]
            for box in frame.faces:
                corners = (box.x0 / width, box.y0 / height, box.x1 / width, box.y1 / height)
                clipped = tuple(round(min(1.0, max(0.0, value)), 4) for value in corners)
                self._boxes.setdefault(box.person, []).append(PersonBox(frame=frame.frame_index, box=clipped))

    def scored(self, person: int, window: WindowResult) -> None:
        self._windows.setdefault(person, []).append(window)

    def persons(self, compound_names: list[str]) -> list[Person]:
        """The persons scored in at least one window: the most scored first, then the largest on
        screen over the video (as the whole-video view picks its main face), then the first seen."""
        order = sorted(self._windows, key=lambda person: (-len(self._windows[person]), -self._screen_share(person), person))
        return [
            Person(
                id=person,
                boxes=self._boxes.get(person, []),
                speaking_share=_speaking_share(person, self._windows[person]),
                windows=self._windows[person],
                summary=summary(self._windows[person], compound_names),
            )
            for person in order
        ]

    def _screen_share(self, person: int) -> float:
        """The person's box areas, as fractions of the frame, summed over the frames they were seen on."""
        return sum((b.box[2] - b.box[0]) * (b.box[3] - b.box[1]) for b in self._boxes.get(person, []))


def _speaking_share(person: int, windows: Sequence[WindowResult]) -> float | None:
    """Of the person's windows with speech, the share whose voice was theirs."""
    spoken = [window.voice for window in windows if window.voice is not None and window.voice.basis not in _NO_SPEECH_BASES]
    if not spoken:
        return None
    return round(sum(voice.speaker == person for voice in spoken) / len(spoken), 4)
