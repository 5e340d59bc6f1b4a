"""Clips with several people, made for the per-person tests and bench/persons.py.

`faces_clip`: the packaged smiling face (head and shoulders) several times in a row, and
speech; only the speaker's mouth moves, opening with the loudness of the speech (a dark mouth
drawn over the photo's), so the voice has a known owner. `crowd_clip`: a photo of several
people, panned and zoomed slowly, so that every face moves and must keep its person.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from cer.core.types import AUDIO_RATE
from cer.pipeline.demo import demo_photo, demo_speech, write_clip

FPS = 25
SIZE = (540, 960)  # frame height, width
# Head and shoulders of the packaged photo (rows, columns), large enough for both the offline
# detector and the tiny profile's Haar cascade; the face box in it (the offline detector's) and
# where the mouth lies in that box
_PORTRAIT = (slice(0, 300), slice(76, 376))
_PORTRAIT_PX = 300  # its side
_FACE = (97, 68, 204, 175)  # x0, y0, x1, y1
_MOUTH_CENTRE = (0.5, 0.77)  # fractions of the face box
_SPEECH_FROM_S = 1.0


def speech_and_loudness(duration_s: float) -> tuple[np.ndarray, np.ndarray]:
    """The packaged sentence from 1 s on, repeated; and its loudness per video frame (0 to 1)."""
    sentence = demo_speech()
    audio = np.zeros(int(duration_s * AUDIO_RATE), dtype=np.float32)
    at = int(_SPEECH_FROM_S * AUDIO_RATE)
    while at < len(audio):
        piece = sentence[: len(audio) - at]
        audio[at : at + len(piece)] = piece
        at += len(piece) + AUDIO_RATE // 2
    per_frame = AUDIO_RATE // FPS
    rms = np.sqrt(np.mean(audio[: len(audio) // per_frame * per_frame].reshape(-1, per_frame) ** 2, axis=1))
    return audio, np.clip(rms / (np.percentile(rms, 95) + 1e-9), 0.0, 1.0)


def two_person_clip(path: Path, duration_s: float = 8.0) -> Path:
    """Two faces side by side: the listener on the left, larger (the main face of the
    whole-video view), and the speaker on the right."""
    return faces_clip(path, [420, 360], speaker=1, duration_s=duration_s)


def faces_clip(path: Path, sizes: list[int], speaker: int | None, duration_s: float) -> Path:
    """One face per size (pixels, a photo each) in a row, left to right; the `speaker`-th
    (from 0) moves their mouth with the speech. With no speaker the clip has no audio track."""
    faces = [portrait(px) for px in sizes]
    audio, loudness = speech_and_loudness(duration_s) if speaker is not None else (None, None)
    height, width = SIZE
    column = width // len(faces)

    def frame(t: float) -> np.ndarray:
        canvas = np.full((height, width, 3), 110, dtype=np.uint8)
        for k, face in enumerate(faces):
            px = face.shape[0]
            left, top = k * column + (column - px) // 2, (height - px) // 2
            canvas[top : top + px, left : left + px] = face
            if k == speaker and loudness is not None:
                _open_mouth(canvas, left, top, px / _PORTRAIT_PX, loudness[min(int(t * FPS), len(loudness) - 1)])
        return canvas

    return write_clip(path, frame, duration_s, fps=FPS, audio=audio)


def portrait(px: int) -> np.ndarray:
    """The packaged face, head and shoulders, `px` pixels square."""
    return cv2.resize(demo_photo()[_PORTRAIT], (px, px), interpolation=cv2.INTER_AREA)


def _open_mouth(canvas: np.ndarray, left: int, top: int, scale: float, openness: float) -> None:
    """Draw the mouth open by `openness` (0: closed, nothing drawn) on the face pasted at (left, top)."""
    if openness < 0.05:
        return
    x0, y0, x1, y1 = (value * scale for value in _FACE)
    centre = (left + int(x0 + _MOUTH_CENTRE[0] * (x1 - x0)), top + int(y0 + _MOUTH_CENTRE[1] * (y1 - y0)))
    axes = (max(1, int(0.18 * (x1 - x0))), max(1, int(0.12 * (y1 - y0) * openness)))
    cv2.ellipse(canvas, centre, axes, 0, 0, 360, (40, 20, 20), -1)


def crowd_clip(photo_path: Path, path: Path, duration_s: float = 6.0) -> Path:
    """`photo_path` slowly panned and zoomed in 960 x 540 frames, silent."""
    from PIL import Image

    with Image.open(photo_path) as image:
        photo = np.asarray(image.convert("RGB"))
    height, width = SIZE
    scale = max(width / photo.shape[1], height / photo.shape[0]) * 1.15  # room to pan

    def frame(t: float) -> np.ndarray:
        zoom = scale * (1 + 0.05 * t / duration_s)
        big = cv2.resize(photo, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_AREA)
        dx = int((big.shape[1] - width) * t / duration_s)
        dy = (big.shape[0] - height) // 2
        return np.ascontiguousarray(big[dy : dy + height, dx : dx + width])

    return write_clip(path, frame, duration_s, fps=FPS)
