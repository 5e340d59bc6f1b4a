"""Video probing and streaming decode with PyAV (FFmpeg's libraries, no ffmpeg binary).

Frames are sampled at a fixed rate and audio is resampled to 16 kHz mono, both streamed so
that memory depends on the chunk size, never on the video's length.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import numpy as np

from cer.core.types import AUDIO_RATE, SampledFrame, VideoInfo

AUDIO_BLOCK_SAMPLES = AUDIO_RATE  # samples handed over at a time by the audio stream (1 s)


# What is wrong with a video, for programs (the HTTP service answers by it); the message says
# it for people.
MediaProblem = Literal[
    "not_found", "not_a_file", "empty", "unreadable", "no_video_stream", "corrupt", "no_frames",
    "zero_length", "truncated", "damaged", "no_audio_stream", "still_image", "frame_rate", "frame_size",
]  # fmt: skip
# The highest frame rate read (phones film slow motion at 240 fps). Per-frame outputs have a row
# per frame, so a file that declares thousands of tiny frames a second (a few hundred KB that
# would make hundreds of MB of CSV and the memory to match) is refused, not followed.
MAX_FPS = 240.0
# The largest picture read: 8K UHD. One decoded frame of a header that declares 65535 x 65535
# pixels would take 6 GiB; the header is read, and such a file refused, before any decoding.
MAX_PIXELS = 7680 * 4320
# FFmpeg demuxers that read still images (a photo opens as a one-frame "video")
_IMAGE_DEMUXERS = ("image2", "image2pipe")


class MediaError(ValueError):
    """A video that cannot be used; the message says why in one line, `code` says which problem."""

    def __init__(self, message: str, code: MediaProblem = "unreadable") -> None:
        super().__init__(message)
        self.code: MediaProblem = code


def _open(path: Path, kind: str = "video") -> av.container.InputContainer:
    """The file opened for reading; `kind` (video, audio file) names what it should have been."""
    try:
        return av.open(str(path), metadata_errors="ignore")
    except av.FFmpegError as exc:
        problem = f"not a readable {kind} (corrupt or unsupported format): {exc.strerror or exc}"
        raise MediaError(f"{path.name}: {problem}", "unreadable") from None


def upright_rotation(frame: av.VideoFrame) -> int:
    """Clockwise degrees that make the frame upright.

    FFmpeg's display matrix states how the stored picture is rotated counter-clockwise;
    undoing it means rotating clockwise by the same angle's negation.
    """
    return round(-float(getattr(frame, "rotation", 0) or 0)) % 360


def is_still_image(container: av.container.InputContainer) -> bool:
    """Whether FFmpeg reads the container as a still image (a photo opens as a one-frame "video")."""
    return container.format.name in _IMAGE_DEMUXERS or container.format.name.endswith("_pipe")


def _not_a_file(path: Path) -> str:
    """What `path` is instead of a regular file, and what to do."""
    if path.is_dir():
        return "a folder, not a video file (`cer batch` takes folders)"
    # a pipe (/dev/stdin, a shell's <(...)) or a device: videos are read with seeks, which a stream cannot do
    return "not a regular file (a pipe, a terminal or a device); save the video to a file and give that"


def probe(path: str | Path) -> VideoInfo:
    """Read a video's facts, decoding its first frame to prove it is decodable, and check that
    its packets cover the duration its header announces. Every entry point (`cer run`,
    `cer batch`, `cer eval`, the HTTP service) checks media here, so all refuse the same files."""
    path = Path(path)
    if not path.exists():
        if path.is_symlink():
            raise MediaError(f"{path}: a symbolic link that leads nowhere (a loop, or its target is missing)", "not_found")
        raise MediaError(f"{path}: file not found", "not_found")
    if not path.is_file():
        raise MediaError(f"{path}: {_not_a_file(path)}", "not_a_file")
    if path.stat().st_size == 0:
        raise MediaError(f"{path.name}: empty file (0 bytes)", "empty")
    with _open(path) as container:
        if not container.streams.video:
            raise MediaError(f"{path.name}: no video stream (audio-only or not a video file)", "no_video_stream")
        if is_still_image(container):
            raise MediaError(f"{path.name}: a still image, not a video", "still_image")
        stream = container.streams.video[0]
        if stream.width * stream.height > MAX_PIXELS:
            raise MediaError(
                f"{path.name}: {stream.width} x {stream.height} pixels a frame, beyond the 7680 x 4320 (8K) cer reads "
                "(scale it down: ffmpeg -i IN -vf scale=-2:2160 OUT)",
                "frame_size",
            )
        try:
            first = next(container.decode(stream), None)
        except av.FFmpegError as exc:
            raise MediaError(f"{path.name}: corrupt video, no frame could be decoded ({exc.strerror or exc})", "corrupt") from None
        if first is None:
            raise MediaError(f"{path.name}: the video stream has no frames", "no_frames")
        duration = _duration_s(container, stream)
        if duration <= 0:
            raise MediaError(f"{path.name}: zero-length video", "zero_length")
        rate = stream.average_rate or stream.guessed_rate or Fraction(25)
        n_frames = stream.frames if stream.frames > 0 else max(1, round(duration * float(rate)))
        fps = n_frames / duration if stream.frames > 0 else float(rate)
        if fps > MAX_FPS:
            raise MediaError(
                f"{path.name}: {fps:.0f} frames per second, beyond the {MAX_FPS:.0f} cer reads "
                "(re-encode it at a camera's rate: ffmpeg -i IN -r 30 OUT)",
                "frame_rate",
            )
        _check_complete(path, duration)
        rotation = upright_rotation(first)
        width, height = first.width, first.height
        if rotation in (90, 270):
            width, height = height, width
        return VideoInfo(
            path=str(path),
            duration_s=round(duration, 6),
            fps=round(fps, 6),
            width=width,
            height=height,
            has_audio=bool(container.streams.audio),
            n_frames=n_frames,
            rotation=rotation,
        )


def _check_complete(path: Path, duration_s: float) -> None:
    """Refuse a video whose packets stop well before its announced duration. Decoding the first
    frame proves little for an mp4 with its index up front (`faststart`) cut short: it opens
    and decodes, then its packets end early. Small gaps are tolerated."""
    covered_s = video_extent_s(path)
    if covered_s < duration_s - max(0.5, 0.05 * duration_s):
        raise MediaError(
            f"{path.name}: the video data stops at {covered_s:.1f} s of the {duration_s:.1f} s its header announces "
            "(an incomplete download or upload, or a damaged file)",
            "truncated",
        )


def video_extent_s(path: Path) -> float:
    """Seconds of video the file's packets hold, read without decoding them."""
    with _open(path) as container:
        stream = container.streams.video[0]
        origin = stream.start_time or 0
        end = origin
        try:
            for packet in container.demux(stream):
                stamp = packet.pts if packet.pts is not None else packet.dts
                if stamp is not None:
                    end = max(end, stamp + (packet.duration or 0))
        except av.FFmpegError:
            pass  # a damaged tail: what was read so far is the extent
        return float((end - origin) * stream.time_base) if stream.time_base else 0.0


def _duration_s(container: av.container.InputContainer, stream: av.VideoStream) -> float:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return 0.0


def _scaled_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    scale = min(1.0, max_side / max(width, height))
    # even sizes keep swscale's chroma handling exact
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


def iter_sampled_frames(info: VideoInfo, sample_fps: float, max_side: int) -> Iterator[SampledFrame]:
    """Decode the video once, yielding upright RGB frames at about `sample_fps`.

    A frame is taken when its time reaches the next sampling instant, which follows the real
    timestamps and so handles variable frame rates.
    """
    path = Path(info.path)
    step = 1.0 / sample_fps
    next_t = 0.0
    with _open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"  # frame-threaded decoding: decoding dominates sampling
        origin = 0.0
        if stream.start_time is not None and stream.time_base is not None:
            origin = float(stream.start_time * stream.time_base)
        try:
            for frame_index, frame in enumerate(container.decode(stream)):
                t = float(frame.time) - origin if frame.time is not None else frame_index / info.fps
                if t + 1e-6 < next_t:
                    continue
                next_t = (int(t / step + 1e-6) + 1) * step  # the next sampling instant after t
                yield SampledFrame(t_s=round(t, 6), frame_index=min(frame_index, info.n_frames - 1), image=to_rgb(frame, max_side))
        except av.FFmpegError as exc:
            problem = f"decoding failed after {next_t:.1f} s ({exc.strerror or exc}); the file is damaged"
            raise MediaError(f"{path.name}: {problem}", "damaged") from None


def to_rgb(frame: av.VideoFrame, max_side: int) -> np.ndarray:
    """The frame as upright RGB (H x W x 3 uint8), downscaled so its longer side fits `max_side`."""
    rotation = upright_rotation(frame)
    width, height = _scaled_size(frame.width, frame.height, max_side)
    image: np.ndarray = frame.to_ndarray(format="rgb24", width=width, height=height)
    if rotation:
        image = np.ascontiguousarray(np.rot90(image, k=-(rotation // 90)))
    return image


def iter_audio_blocks(info: VideoInfo, kind: str = "video") -> Iterator[np.ndarray]:
    """16 kHz mono float32 audio of the first audio stream, in blocks of about one second.

    A damaged audio stream ends the audio early rather than failing the run: the
    audio-based experts then report the missing part as absent. `kind` is what the file is
    meant to be (a video, an audio file), as an unreadable file's error names it.
    """
    if not info.has_audio:
        return
    resampler = av.AudioResampler(format="flt", layout="mono", rate=AUDIO_RATE)
    pending: list[np.ndarray] = []
    pending_len = 0
    with _open(Path(info.path), kind) as container:
        if not container.streams.audio:
            raise MediaError(f"{Path(info.path).name}: no audio stream", "no_audio_stream")
        try:
            for frame in container.decode(container.streams.audio[0]):
                for out in resampler.resample(frame):
                    pending.append(out.to_ndarray().reshape(-1))
                    pending_len += out.samples
                if pending_len >= AUDIO_BLOCK_SAMPLES:
                    yield np.concatenate(pending).astype(np.float32, copy=False)
                    pending, pending_len = [], 0
            for out in resampler.resample(None):  # flush the resampler's delay line
                pending.append(out.to_ndarray().reshape(-1))
        except av.FFmpegError:
            pass
    if pending:
        yield np.concatenate(pending).astype(np.float32, copy=False)
