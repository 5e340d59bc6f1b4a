"""Windows of a live stream, each made into a chunk as soon as the stream has reached its end.

The windows follow `make_windows`'s grid (`length_s` long, every `hop_s`); when the stream
ends, the last ones follow its tail rule for a video of the length seen, so a live session and
a later run over its recording cut the same windows. A chunk holds one window, so that each
verdict waits for no other window.
"""

from __future__ import annotations

import numpy as np

from cer.core.chunks import ChunkWork
from cer.core.config import WindowConfig
from cer.core.live_media import AUDIO_WAIT_S, Arrival, LiveSource
from cer.core.types import AUDIO_RATE, Chunk, SampledFrame, VideoInfo, Window
from cer.core.windows import make_windows

_EPS = 1e-6  # seconds; a window ending within this of the stream's progress has been reached


class LiveChunker:
    """Collects a live stream's arrivals and hands out each window's chunk once it is complete;
    keeps only the media of windows still to come."""

    def __init__(self, source: LiveSource, windows: WindowConfig) -> None:
        self.source = source
        self.config = windows
        self.video_s = 0.0  # how far the video has come
        self.audio_s = 0.0  # how far the audio has come
        self.frames_seen = 0  # video frames decoded
        self.rotation = 0  # of the first video frame
        self.next_index = 0  # the next window to hand out
        self._held: list[SampledFrame] = []  # sampled frames from the next window's start on
        self._untracked: list[SampledFrame] = []  # sampled frames in no chunk yet (for once-only work: faces)
        self._audio = np.zeros(0, dtype=np.float32)
        self._audio_start_s: float | None = None  # where `_audio` starts; None until audio arrives
        self._frames_spanned = 0  # the end frame of the last window handed out

    def add(self, arrival: Arrival) -> list[ChunkWork]:
        """Take one arrival; the chunks of the windows it completed."""
        if arrival.video_s is not None:
            if self.frames_seen == 0:
                self.rotation = arrival.rotation
            self.frames_seen += 1
            self.video_s = max(self.video_s, arrival.video_s)
        if arrival.frame is not None:
            self._held.append(arrival.frame)
            self._untracked.append(arrival.frame)
        if arrival.audio is not None and arrival.audio_s is not None:
            if self._audio_start_s is None:
                self._audio_start_s = arrival.audio_start_s
            self._audio = np.concatenate([self._audio, arrival.audio])
            self.audio_s = max(self.audio_s, arrival.audio_s)
        ready = []
        while self._next_window().end_s <= self._reached_s() + _EPS:
            ready.append(self._chunk(self._next_window()))
        return ready

    def finish(self) -> list[ChunkWork]:
        """The chunks of the windows left when the stream has ended: the tail of the windows a
        video of the length seen has."""
        w = self.config
        windows = make_windows(self.video_s, self.source.fps, self._n_frames(), w.length_s, w.hop_s, w.min_tail_s)
        return [self._chunk(window) for window in windows[self.next_index :]]

    def _n_frames(self) -> int:
        """Frames seen; at least as many as the windows handed out span (the frames of a stream
        whose timestamps wander are numbered by its announced rate)."""
        return max(self.frames_seen, self._frames_spanned)

    def info(self, duration_s: float | None = None) -> VideoInfo:
        """What was seen of the stream, as a video's facts (`duration_s`: so far, else all seen)."""
        width, height = self.source.width, self.source.height
        if self.rotation in (90, 270):
            width, height = height, width
        return VideoInfo(
            path=self.source.name,
            duration_s=round(self.video_s if duration_s is None else duration_s, 6),
            fps=self.source.fps,
            width=width,
            height=height,
            has_audio=self.source.has_audio,
            n_frames=self._n_frames(),
            rotation=self.rotation,
        )

    def _reached_s(self) -> float:
        """The media time both streams have reached; a video whose audio lags by more than
        AUDIO_WAIT_S (or never comes) goes on without waiting for it."""
        if not self.source.has_audio:
            return self.video_s
        return max(min(self.video_s, self.audio_s), self.video_s - AUDIO_WAIT_S)

    def _next_window(self) -> Window:
        start = self.next_index * self.config.hop_s
        end = start + self.config.length_s
        fps = self.source.fps
        return Window(
            index=self.next_index, start_s=round(start, 6), end_s=round(end, 6), start_frame=int(start * fps), end_frame=int(end * fps)
        )

    def _chunk(self, window: Window) -> ChunkWork:
        """The window's chunk; afterwards, the media before the next window's start is let go."""
        new_frames = [frame for frame in self._untracked if frame.t_s < window.end_s]
        self._untracked = self._untracked[len(new_frames) :]
        chunk = Chunk(
            video=self.info(max(self.video_s, window.end_s)),
            windows=[window],
            frames=[frame for frame in self._held if window.start_s <= frame.t_s < window.end_s],
            audio=self._audio_between(window.start_s, window.end_s),
            audio_start_s=window.start_s,
        )
        self.next_index = window.index + 1
        self._frames_spanned = window.end_frame
        next_start = self.next_index * self.config.hop_s
        self._held = [frame for frame in self._held if frame.t_s >= next_start]
        self._drop_audio_before(next_start)
        return ChunkWork(chunk=chunk, new_frames=new_frames)

    def _audio_between(self, start_s: float, end_s: float) -> np.ndarray:
        """Audio of [start_s, end_s), silence before the audio began; empty when none came."""
        if self._audio_start_s is None:
            return np.zeros(0, dtype=np.float32)
        first = round((start_s - self._audio_start_s) * AUDIO_RATE)
        last = round((end_s - self._audio_start_s) * AUDIO_RATE)
        taken = self._audio[max(0, first) : max(0, last)]
        return np.concatenate([np.zeros(min(-first, last - first), dtype=np.float32), taken]) if first < 0 else taken.copy()

    def _drop_audio_before(self, t_s: float) -> None:
        if self._audio_start_s is None:
            return
        cut = min(len(self._audio), max(0, round((t_s - self._audio_start_s) * AUDIO_RATE)))
        self._audio = self._audio[cut:]
        self._audio_start_s += cut / AUDIO_RATE
