"""HEVC `.mov` clips, as iPhones film them by default: a codec browsers cannot play."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

AUDIO_RATE = 44_100  # Hz, as phones record


def write_hevc_mov(
    path: Path, width: int, height: int, duration_s: float, rotation: int = 0, fps: int = 10, sound_codec: str = "aac"
) -> Path:
    """HEVC video (a moving gradient; `rotation`: the display matrix's, counter-clockwise
    degrees) with a tone (AAC, as phones record, unless `sound_codec` says otherwise), in a
    QuickTime container."""
    if "libx265" not in av.codecs_available:
        pytest.skip("PyAV's FFmpeg has no libx265 to make an HEVC clip")
    ramp = np.linspace(0, 200, width, dtype=np.float32)[None, :, None]
    with av.open(str(path), "w", format="mov") as container:
        video = container.add_stream("libx265", rate=fps, options={"preset": "ultrafast", "x265-params": "log-level=error"})
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        if rotation:
            video.set_display_rotation(rotation)
        sound = container.add_stream(sound_codec, rate=AUDIO_RATE, layout="mono")
        for i in range(round(duration_s * fps)):
            image = np.broadcast_to((ramp + 5 * i) % 256, (height, width, 3)).astype(np.uint8)
            container.mux(video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(video.encode())
        tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(round(duration_s * AUDIO_RATE)) / AUDIO_RATE)).astype(np.float32)
        for start in range(0, len(tone), 1024):  # AAC frame size
            frame = av.AudioFrame.from_ndarray(tone[None, start : start + 1024], format="flt", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = AUDIO_RATE, start, Fraction(1, AUDIO_RATE)
            container.mux(sound.encode(frame))
        container.mux(sound.encode())
    return path
