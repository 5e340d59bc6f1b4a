"""The demo clip, built from assets that ship with the packages (no download):
a smiling face (NASA's public-domain portrait of astronaut Eileen Collins, as scikit-image
ships it, committed as `assets/astronaut.jpg`) that gives way to an empty sky,
and a short synthesised sentence (espeak-ng, committed as `assets/demo_speech.wav`).
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from importlib import resources
from pathlib import Path

import av
import numpy as np

from cer.core.types import AUDIO_RATE

FrameMaker = Callable[[float], np.ndarray]  # time in seconds -> H x W x 3 uint8 RGB


def write_clip(path: Path, make_frame: FrameMaker, duration_s: float, fps: int = 25, audio: np.ndarray | None = None) -> Path:
    """Encode an H.264 / AAC mp4 from a frame function and optional 16 kHz mono audio."""
    first = make_frame(0.0)
    height, width = first.shape[:2]
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        sound = container.add_stream("aac", rate=AUDIO_RATE, layout="mono") if audio is not None else None
        for i in range(round(duration_s * fps)):
            frame = av.VideoFrame.from_ndarray(make_frame(i / fps), format="rgb24")
            container.mux(video.encode(frame))
        container.mux(video.encode())
        if audio is not None and sound is not None:  # one is set exactly when the other is
            samples = np.zeros(int(duration_s * AUDIO_RATE), dtype=np.float32)
            samples[: min(len(audio), len(samples))] = audio[: len(samples)]
            block = 1024  # AAC frame size
            for start in range(0, len(samples), block):
                piece = samples[start : start + block]
                audio_frame = av.AudioFrame.from_ndarray(piece[None, :], format="flt", layout="mono")
                audio_frame.sample_rate, audio_frame.pts, audio_frame.time_base = AUDIO_RATE, start, Fraction(1, AUDIO_RATE)
                container.mux(sound.encode(audio_frame))
            container.mux(sound.encode())
    return path


def demo_photo() -> np.ndarray:
    """The smiling face of the demo, 512 x 512 x 3 uint8 RGB."""
    from PIL import Image

    with resources.as_file(resources.files("cer.pipeline") / "assets" / "astronaut.jpg") as jpeg, Image.open(jpeg) as image:
        return np.asarray(image.convert("RGB"))


def demo_speech() -> np.ndarray:
    import soundfile

    with resources.as_file(resources.files("cer.pipeline") / "assets" / "demo_speech.wav") as wav:
        samples, rate = soundfile.read(wav, dtype="float32")
    assert rate == AUDIO_RATE, "the packaged demo speech is stored at 16 kHz"
    return samples


def sky(width: int, height: int) -> np.ndarray:
    """A face-free picture: a vertical blue gradient."""
    ramp = np.linspace(0.0, 1.0, height)[:, None]
    top, bottom = np.array([70, 130, 200]), np.array([200, 225, 245])
    return np.broadcast_to((top + ramp[..., None] * (bottom - top)).astype(np.uint8), (height, width, 3)).copy()


def build_demo_clip(path: Path, duration_s: float = 10.0, face_until_s: float = 6.0) -> Path:
    """Smiling face (slowly zooming) until `face_until_s`, then sky; speech at the start."""
    import cv2

    photo = demo_photo()
    width, height = 640, 480
    background = sky(width, height)

    def make_frame(t: float) -> np.ndarray:
        if t >= face_until_s:
            return background
        size = int(400 + 40 * t / face_until_s)  # a gentle zoom, so frames are not identical
        scaled = cv2.resize(photo, (size, size), interpolation=cv2.INTER_AREA)
        canvas = background.copy()
        x0, y0 = (width - size) // 2, max(0, (height - size) // 2)
        crop = scaled[: height - y0, : width - x0]
        canvas[y0 : y0 + crop.shape[0], x0 : x0 + crop.shape[1]] = crop
        return canvas

    speech = np.concatenate([np.zeros(AUDIO_RATE // 2, dtype=np.float32), demo_speech()])
    return write_clip(path, make_frame, duration_s, audio=speech)
