"""Data passed between the parts of cer. Depends on numpy and the standard library only."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

AUDIO_RATE = 16_000  # Hz; every expert receives mono audio at this rate


@dataclass(frozen=True)
class VideoInfo:
    """What the probe learned about a video before decoding it."""

    path: str
    duration_s: float
    fps: float  # average frame rate (frames / duration for variable-rate video)
    width: int  # display width, after rotation
    height: int  # display height, after rotation
    has_audio: bool
    n_frames: int  # frames in the video stream (estimated from duration * fps when the container is silent)
    rotation: int = 0  # degrees clockwise applied to decoded frames to make them upright
    # [start, end] seconds of the part to analyse (`--start`/`--end`, set by the runner); None: the whole video
    part_s: tuple[float, float] | None = None


@dataclass(frozen=True)
class Window:
    """A span of the video that receives one prediction."""

    index: int
    start_s: float
    end_s: float
    start_frame: int  # first video frame, int(start_s * fps)
    end_frame: int  # one past the last video frame, int(end_s * fps) (clamped to n_frames)

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True)
class FaceBox:
    """One detected face on one sampled frame, in pixel coordinates of that frame."""

    x0: float
    y0: float
    x1: float
    y1: float
    score: float
    track_id: int = -1  # set by the tracker; -1 before tracking
    person: int = -1  # the person the track belongs to (cer.core.persons joins broken tracks); -1 before
    # how much the mouth region changed since this person's previous sampled frame (cer.core.persons)
    mouth_motion: float | None = None

    @property
    def area(self) -> float:
        return max(0.0, self.x1 - self.x0) * max(0.0, self.y1 - self.y0)


@dataclass
class SampledFrame:
    """A frame sampled from the video (RGB, upright) with the faces found on it."""

    t_s: float  # presentation time
    frame_index: int  # index of this frame among all video frames
    image: np.ndarray  # H x W x 3, uint8, RGB
    faces: list[FaceBox] = field(default_factory=list)
    # The main track's box on this frame, when present: each face model cuts its own crop
    # from `image` around it, as it was trained (cer.core.faces.crop_face).
    main_box: FaceBox | None = None


@dataclass
class Chunk:
    """Consecutive windows of one video, with the decoded media they need.

    Experts see whole chunks so that work shared by overlapping windows (per-frame
    embeddings, one speech recognition pass) is done once.
    """

    video: VideoInfo
    windows: list[Window]
    frames: list[SampledFrame]
    audio: np.ndarray  # float32 mono at AUDIO_RATE, starting at audio_start_s
    audio_start_s: float = 0.0
    # A person's view of the chunk (cer.pipeline.persons): each frame's `main_box` is that
    # person's box, and only the experts named in `experts` answer it
    person: int | None = None
    experts: tuple[str, ...] | None = None  # None: every expert

    def wants(self, expert: str) -> bool:
        """Whether `expert` is to answer this chunk."""
        return self.experts is None or expert in self.experts

    @property
    def window_indices(self) -> list[int]:
        return [w.index for w in self.windows]

    def frames_in(self, window: Window) -> list[SampledFrame]:
        return [f for f in self.frames if window.start_s <= f.t_s < window.end_s]

    def audio_in(self, window: Window) -> np.ndarray:
        first = max(0, round((window.start_s - self.audio_start_s) * AUDIO_RATE))
        last = max(first, round((window.end_s - self.audio_start_s) * AUDIO_RATE))
        return self.audio[first:last]


@dataclass(frozen=True)
class LabelEmbeddings:
    """Text embeddings of the labels in one expert's image-text space, rows L2-normalised.

    PFSA compares a window's image embedding with these. One instance per expert, shared by
    all its outputs (the text side is computed once, at start-up).
    """

    basic: dict[str, np.ndarray]  # BASIC name -> [d]; only the labels the expert describes
    compound: dict[str, np.ndarray]  # compound name -> [d], one per compound of the vocabulary


@dataclass
class ExpertOutput:
    """One expert's answer for one window: 8 basic probabilities, or absent with a reason."""

    window_index: int
    probs: list[float] | None  # 8 floats in BASIC order summing to 1; None when absent
    model_id: str
    reason: str | None = None  # why probs is None
    embedding: np.ndarray | None = None  # image-text space embedding for PFSA (L2-normalised)
    label_embeddings: LabelEmbeddings | None = None  # the text side of `embedding`'s space, for PFSA
    evidence: dict[str, Any] = field(default_factory=dict)  # transcript, face count, prosody...

    @property
    def present(self) -> bool:
        return self.probs is not None


@dataclass(frozen=True)
class ExpertStatus:
    """Whether an expert could be built, and why not."""

    name: str
    status: str  # "ok" or "unavailable"
    model_id: str
    reason: str | None = None
    note: str | None = None  # e.g. "pooling rule, not a trained model"
    device: str | None = None  # where its models run (cpu, cuda:0); None for an expert without models
