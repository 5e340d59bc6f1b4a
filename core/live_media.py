"""Live sources: a camera, a network stream or standard input, decoded as the media arrives.

Unlike a file (cer.core.media), a live source has no duration and no index, and it cannot be
read twice: its pictures and sound come interleaved from one pass over one connection, and
nothing is known of it beyond what its header said and what has arrived so far.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import av
import numpy as np

from cer.core.media import MAX_FPS, MAX_PIXELS, MediaError, MediaProblem, is_still_image, to_rgb, upright_rotation
from cer.core.types import AUDIO_RATE, SampledFrame

STDIN = "-"  # the source name of standard input
OPEN_TIMEOUT_S = 20.0  # seconds to connect and read the stream's header
# Seconds a network stream may send nothing before it counts as ended: a camera or encoder
# that went away must end the session (and write its results), not hang it.
STALL_TIMEOUT_S = 30.0
# Time after which a stream with a video but a missing or late audio track stops waiting for
# the audio: a window is decided once its pictures are this far behind the video's progress.
AUDIO_WAIT_S = 1.0
DEFAULT_FPS = 30.0  # frames a second of a stream that announces no plausible rate


@dataclass(frozen=True)
class LiveSource:
    """An opened live source and what its header says."""

    name: str  # as shown and written in the results: the URL, the device, or `stdin`
    container: av.container.InputContainer
    fps: float  # the frame rate the stream announces (frames are numbered by it)
    width: int  # the coded picture size (before any rotation its frames carry)
    height: int
    has_audio: bool

    def close(self) -> None:
        self.container.close()


@dataclass(frozen=True)
class Arrival:
    """What one decoded frame of the stream brought: the media time the stream has reached
    (seconds from its first frame) and a sampled picture or a block of 16 kHz mono audio."""

    video_s: float | None = None  # the end of this video frame
    audio_s: float | None = None  # the end of this audio block
    frame: SampledFrame | None = None  # a picture, when this video frame was sampled
    rotation: int = 0  # of a video frame: degrees clockwise that made its picture upright
    audio: np.ndarray | None = None  # float32 samples starting at `audio_start_s`
    audio_start_s: float = 0.0


def shown_name(source: str) -> str:
    """How a source is named in messages and results."""
    return "stdin" if source == STDIN else source


def open_live(source: str, input_format: str | None = None) -> LiveSource:
    """Open `source` (a device path, a URL, `-`) and read its header; MediaError in one line
    when it cannot be opened or holds no video. `input_format` names FFmpeg's demuxer or device
    (v4l2, avfoundation, mpegts, ...) where it cannot be guessed; /dev/video* is read as v4l2."""
    name = shown_name(source)
    if input_format is None and source.startswith("/dev/video"):
        input_format = "v4l2"
    if source == STDIN and sys.stdin.isatty():
        raise MediaError("stdin: a terminal, not a stream: pipe one in (ffmpeg -i IN -f matroska - | cer live -)", "not_a_file")
    # Standard input unbuffered: a buffered read waits until its whole block (FFmpeg asks for
    # 32 KiB) has come, so a slow stream's last media, or a quiet one's, would wait for the next.
    target = open(sys.stdin.fileno(), "rb", buffering=0, closefd=False) if source == STDIN else source  # noqa: SIM115 - PyAV reads and lets it go
    try:
        container = av.open(target, "r", format=input_format, timeout=(OPEN_TIMEOUT_S, STALL_TIMEOUT_S), metadata_errors="ignore")
    except av.FFmpegError as exc:
        raise MediaError(f"{name}: cannot open it as a live source: {exc.strerror or exc}", "unreadable") from None
    except ValueError:  # an input format FFmpeg does not know
        raise MediaError(f"--format {input_format}: FFmpeg has no input format of that name", "unreadable") from None
    problem = _problem(container)
    if problem is not None:
        container.close()
        raise MediaError(f"{name}: {problem[0]}", problem[1])
    stream = container.streams.video[0]
    return LiveSource(
        name=name,
        container=container,
        fps=_announced_fps(stream),
        width=stream.width,
        height=stream.height,
        has_audio=bool(container.streams.audio),
    )


def _problem(container: av.container.InputContainer) -> tuple[str, MediaProblem] | None:
    """What makes an opened source no live video, if anything: as `probe` refuses files."""
    if not container.streams.video:
        return "no video stream (audio-only or not a video)", "no_video_stream"
    if is_still_image(container):
        return "a still image, not a video", "still_image"
    stream = container.streams.video[0]
    if stream.width * stream.height > MAX_PIXELS:
        return f"{stream.width} x {stream.height} pixels a frame, beyond the 7680 x 4320 (8K) cer reads", "frame_size"
    return None


def _announced_fps(stream: av.VideoStream) -> float:
    """The frame rate the stream announces, which numbers its frames. A stream that announces
    none, or its clock's tick instead (WebM: 1000 a second), is taken at a camera's usual rate."""
    rate = stream.average_rate or stream.guessed_rate or stream.codec_context.framerate
    return float(rate) if rate and 0 < rate <= MAX_FPS else DEFAULT_FPS


def _seconds(frame: av.VideoFrame | av.AudioFrame) -> float | None:
    return float(frame.time) if frame.time is not None else None


def decode_live(source: LiveSource, sample_fps: float, max_side: int, stop: threading.Event) -> Iterator[Arrival]:
    """Decode the source once, in arrival order, until it ends or `stop` is set: every video
    frame reports how far the video has come (and carries its picture when it falls on the
    sampling grid), every audio frame its samples.

    A stream that breaks off (a network error, a damaged packet) after media has arrived ends
    there, as a live stream ends; before any has arrived it is a MediaError."""
    container = source.container
    video = container.streams.video[0]
    video.thread_type = "AUTO"
    streams = [video, *container.streams.audio[:1]]
    resampler = av.AudioResampler(format="flt", layout="mono", rate=AUDIO_RATE)
    # Times count from the video's start (its header's, else its first frame's); the audio keeps
    # its offset from it (AAC's priming samples start a few milliseconds before the video).
    origin = float(video.start_time * video.time_base) if video.start_time is not None and video.time_base else None
    step = 1.0 / sample_fps
    next_sample_s = 0.0
    frame_index = 0
    audio_end_s: float | None = None  # where the next audio samples go
    arrived = False  # whether any frame has come
    try:
        for frame in container.decode(*streams):
            if stop.is_set():
                return
            if not isinstance(frame, (av.VideoFrame, av.AudioFrame)):
                continue  # only the video and audio streams are decoded
            stamp = _seconds(frame)
            if origin is None:
                origin = stamp or 0.0
            arrived = True
            if isinstance(frame, av.VideoFrame):
                t = stamp - origin if stamp is not None else frame_index / source.fps
                sampled = None
                if t + 1e-6 >= next_sample_s:
                    next_sample_s = (int(t / step + 1e-6) + 1) * step  # the next sampling instant after t
                    sampled = SampledFrame(t_s=round(t, 6), frame_index=frame_index, image=to_rgb(frame, max_side))
                frame_index += 1
                yield Arrival(video_s=t + 1.0 / source.fps, frame=sampled, rotation=upright_rotation(frame))
                continue
            samples = np.concatenate([out.to_ndarray().reshape(-1) for out in resampler.resample(frame)] or [np.zeros(0)])
            if audio_end_s is None:
                audio_end_s = stamp - origin if stamp is not None else 0.0
            start_s = audio_end_s
            audio_end_s += len(samples) / AUDIO_RATE
            yield Arrival(audio_s=audio_end_s, audio=samples.astype(np.float32, copy=False), audio_start_s=start_s)
    except av.FFmpegError as exc:
        if not arrived:
            raise MediaError(f"{source.name}: not a readable video stream ({exc.strerror or exc})", "corrupt") from None
        # a live stream that breaks off has ended: what arrived until then stands
