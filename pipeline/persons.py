"""Each person on their own: which persons a chunk scores, the views of a chunk the experts
read for one person, and the evidence each person's window is fused from.

The whole-video view (the chunk's main face with all the voice and words) is always computed;
a person is scored on top of it in the windows where they are seen enough
(`persons.min_share`), at most `persons.max_persons` per chunk, the most present first:
- the face experts read the person's own face: the whole-video outputs when the main face was
  this person on every frame, else a view of the chunk whose main box is theirs;
- CLIP reads a square around the person when the chunk shows several persons (a crop of the
  frames); with one person the whole frame, as in the whole-video view;
- the audio and text experts' answers go to the person speaking (cer.core.speakers), and are
  absent for everyone else, or for all when the speaker is unclear;
- the scene is everyone's, and says so.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from cer.core.config import PersonsConfig
from cer.core.registry import evidence_about
from cer.core.speakers import SpeechSpan, VoiceVerdict, attribute_voice
from cer.core.types import Chunk, ExpertOutput, FaceBox, SampledFrame, Window

SCENE_NOTE = "everyone in view"  # the scene expert's evidence `applies_to` in a person's window


def persons_to_score(chunk: Chunk, config: PersonsConfig) -> list[int]:
    """The persons seen on at least `min_share` of some window's sampled frames, the most
    present (sampled frames seen, then the earliest seen) first, at most `max_persons`."""
    if config.max_persons == 0:
        return []
    enough = set().union(*(seen_enough(chunk.frames_in(window), config.min_share) for window in chunk.windows))
    presence = Counter(box.person for frame in chunk.frames for box in frame.faces if box.person in enough)
    return sorted(presence, key=lambda person: (-presence[person], person))[: config.max_persons]


def seen_enough(frames: Sequence[SampledFrame], min_share: float) -> set[int]:
    """The persons on at least `min_share` of `frames`."""
    seen = Counter(person for frame in frames for person in {box.person for box in frame.faces})
    return {person for person, count in seen.items() if frames and count / len(frames) >= min_share}


def box_of(frame: SampledFrame, person: int) -> FaceBox | None:
    return next((box for box in frame.faces if box.person == person), None)


def is_main_face(chunk: Chunk, person: int) -> bool:
    """Whether the chunk's main face was this person on every frame (their whole-video face
    outputs are then theirs)."""
    return all(box_of(frame, person) == frame.main_box for frame in chunk.frames)


def face_view(chunk: Chunk, person: int, experts: Sequence[str]) -> Chunk:
    """The chunk as the face experts read it for `person`: their box as each frame's main box."""
    frames = [dataclasses.replace(frame, main_box=box_of(frame, person)) for frame in chunk.frames]
    return dataclasses.replace(chunk, frames=frames, person=person, experts=tuple(experts))


def region_view(chunk: Chunk, person: int, experts: Sequence[str], region: float) -> Chunk:
    """The chunk's frames that show `person`, cut to a square of `region` face sides around
    them (centred half a face below the face: head and shoulders), for the experts that read
    whole frames (CLIP)."""
    frames = []
    for frame in chunk.frames:
        box = box_of(frame, person)
        if box is not None:
            frames.append(dataclasses.replace(frame, image=_square_around(frame, box, region), faces=[], main_box=None))
    return dataclasses.replace(chunk, frames=frames, person=person, experts=tuple(experts))


def _square_around(frame: SampledFrame, box: FaceBox, region: float) -> np.ndarray:
    height, width = frame.image.shape[:2]
    side = region * max(box.x1 - box.x0, box.y1 - box.y0)
    centre_x, centre_y = (box.x0 + box.x1) / 2, box.y1  # half a face below the face's centre
    left, top = max(0, round(centre_x - side / 2)), max(0, round(centre_y - side / 2))
    right, bottom = min(width, round(centre_x + side / 2)), min(height, round(centre_y + side / 2))
    return frame.image[top : max(bottom, top + 1), left : max(right, left + 1)]


@dataclass
class PersonViews:
    """What a chunk asks of the experts for each person scored in it."""

    persons: list[int]
    # per person, the experts that answer their own view (a person absent here reuses the
    # whole-video answers for every expert)
    views: dict[int, list[Chunk]]

    @classmethod
    def of(cls, chunk: Chunk, experts: Sequence[str], config: PersonsConfig) -> PersonViews:
        persons = persons_to_score(chunk, config)
        face_experts = [name for name in experts if evidence_about(name) == "face"]
        frame_experts = [name for name in experts if evidence_about(name) == "frame"]
        views: dict[int, list[Chunk]] = {}
        for person in persons:
            wanted = []
            if face_experts and not is_main_face(chunk, person):
                wanted.append(face_view(chunk, person, face_experts))
            if frame_experts and len(persons) > 1:
                wanted.append(region_view(chunk, person, frame_experts, config.clip_region))
            if wanted:
                views[person] = wanted
        return cls(persons, views)


def speech_spans(outputs: Mapping[str, ExpertOutput]) -> list[SpeechSpan] | None:
    """The window's speech on the video's clock, from the voice expert that reported it (the
    audio expert's voice activity); None when none did."""
    for name, output in outputs.items():
        spans = output.evidence.get("speech_spans")
        if evidence_about(name) == "voice" and spans is not None:
            return [(float(start), float(end)) for start, end in spans]
    return None


def voice_verdict(
    window: Window, chunk: Chunk, persons: Sequence[int], outputs: Mapping[str, ExpertOutput], config: PersonsConfig
) -> VoiceVerdict:
    return attribute_voice(chunk.frames_in(window), persons, speech_spans(outputs), config.speaker_min_confidence)


def person_outputs(
    person: int, whole_video: Mapping[str, ExpertOutput], own: Mapping[str, ExpertOutput], voice: VoiceVerdict
) -> dict[str, ExpertOutput]:
    """The evidence of one person's window, in the experts' order: their own answers where they
    have them (`own`), else the whole video's; the voice only for the speaker; the scene for all."""
    outputs = {}
    for name, output in whole_video.items():
        about = evidence_about(name)
        if name in own:
            outputs[name] = own[name]
        elif about == "scene":
            outputs[name] = dataclasses.replace(output, evidence={**output.evidence, "applies_to": SCENE_NOTE})
        elif about == "voice" and output.present and voice.speaker != person:
            outputs[name] = dataclasses.replace(output, probs=None, reason=_not_theirs(voice), embedding=None, label_embeddings=None)
        else:
            outputs[name] = output
    return outputs


def _not_theirs(voice: VoiceVerdict) -> str:
    """Why a person's window lacks the voice that the whole video has."""
    if voice.speaker is not None:
        return f"the voice is person {voice.speaker}'s"
    if voice.confidence is not None:
        return f"{voice.basis}: lead {voice.confidence:.2f}"
    return voice.basis
