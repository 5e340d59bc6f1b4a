"""Groups windows into chunks and fills each with the frames and audio it spans.

Consecutive chunks overlap where their windows overlap; frames and audio of the overlap are
kept from one chunk to the next instead of being decoded twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cer.core.config import MediaConfig, Profile
from cer.core.media import iter_audio_blocks, iter_sampled_frames, probe
from cer.core.types import AUDIO_RATE, Chunk, SampledFrame, VideoInfo, Window
from cer.core.windows import make_windows


@dataclass
class ChunkWork:
    """A chunk, and those of its frames that no earlier chunk held (for once-only work such as face tracking)."""

    chunk: Chunk
    new_frames: list[SampledFrame]


class _AudioBuffer:
    """The 16 kHz audio stream, kept from `start_s` on."""

    def __init__(self, blocks: Iterator[np.ndarray]) -> None:
        self._blocks = blocks
        self._data = np.zeros(0, dtype=np.float32)
        self.start_s = 0.0
        self._exhausted = False

    def take(self, start_s: float, end_s: float) -> np.ndarray:
        """Audio of [start_s, end_s); shorter when the stream ends first."""
        end_sample = round((end_s - self.start_s) * AUDIO_RATE)
        while len(self._data) < end_sample and not self._exhausted:
            self._data = np.concatenate([self._data, self._next_block()])
        first = max(0, round((start_s - self.start_s) * AUDIO_RATE))
        return self._data[first:end_sample].copy()

    def drop_before(self, t_s: float) -> None:
        """Forget the audio before `t_s`, reading up to it if it lies ahead (a part analysed
        from `--start` on): what is skipped is never held all at once."""
        cut = max(0, round((t_s - self.start_s) * AUDIO_RATE))
        while cut > len(self._data) and not self._exhausted:
            self.start_s += len(self._data) / AUDIO_RATE
            cut -= len(self._data)
            self._data = self._next_block()
        cut = min(cut, len(self._data))
        self._data = self._data[cut:]
        self.start_s += cut / AUDIO_RATE

    def _next_block(self) -> np.ndarray:
        block = next(self._blocks, None)
        if block is None:
            self._exhausted = True
            return np.zeros(0, dtype=np.float32)
        return block


def iter_chunks(info: VideoInfo, windows: list[Window], media: MediaConfig) -> Iterator[ChunkWork]:
    """Decode the video once and yield chunks of `media.chunk_windows` windows each. Windows
    over a part of the video (`--start`/`--end`) get only that part's frames and audio; the
    frames before it are decoded and passed over (a seek would lose the frames' numbers)."""
    if not windows:
        return
    frames = (frame for frame in iter_sampled_frames(info, media.sample_fps, media.max_side) if frame.t_s >= windows[0].start_s)
    audio = _AudioBuffer(iter_audio_blocks(info))
    audio.drop_before(windows[0].start_s)
    # the last window ends where the video does, save when a part ends earlier: its later
    # frames are not read (and the video's last frames, stamped a hair past the end, are kept)
    ends_early = windows[-1].end_frame < info.n_frames
    held: list[SampledFrame] = []  # decoded frames not yet behind every remaining window
    lookahead: SampledFrame | None = None
    groups = [windows[i : i + media.chunk_windows] for i in range(0, len(windows), media.chunk_windows)]
    for number, group in enumerate(groups):
        start_s, end_s = group[0].start_s, group[-1].end_s
        is_last = number == len(groups) - 1
        new_frames: list[SampledFrame] = []
        while True:
            frame = lookahead if lookahead is not None else next(frames, None)
            lookahead = None
            if frame is None:
                break
            if frame.t_s >= end_s and not is_last:
                lookahead = frame
                break
            if frame.t_s >= end_s and ends_early:
                break
            new_frames.append(frame)
        chunk_frames = [f for f in held if f.t_s >= start_s] + new_frames
        chunk = Chunk(video=info, windows=group, frames=chunk_frames, audio=audio.take(start_s, end_s), audio_start_s=start_s)
        yield ChunkWork(chunk=chunk, new_frames=new_frames)
        if not is_last:
            next_start = groups[number + 1][0].start_s
            held = [f for f in chunk_frames if f.t_s >= next_start]
            audio.drop_before(next_start)


def tracked_chunks(video: Path, profile: Profile) -> Iterator[Chunk]:
    """The chunks `cer run` makes of `video`, with faces tracked as it tracks them: the experts'
    input, for code that runs experts without the runner (benchmarks, reference outputs)."""
    from cer.core.faces import FaceTracker

    info = probe(video)
    w = profile.windows
    windows = make_windows(info.duration_s, info.fps, info.n_frames, w.length_s, w.hop_s, w.min_tail_s)
    faces = FaceTracker(profile.faces, profile.cache_path)
    for work in iter_chunks(info, windows, profile.media):
        faces.process(work.new_frames)
        yield work.chunk
