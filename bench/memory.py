"""Peak memory of `cer run` on a clip and on the same clip repeated ten times.

    .venv/bin/python bench/memory.py [--profile offline] [--device cpu] [--repeat 10] [VIDEO]

The long video is built here with PyAV: the clip's frames and audio, over and over. Each run
is a fresh `cer run` process, and its memory is that of the whole process tree (the embedded
Ray and every expert actor are below it), sampled every 0.2 s, at its highest. Shared pages
count once per process that maps them, so the figures are upper bounds. Memory is bounded by
the chunk size, not the video's length: the target is a ratio of at most 1.3.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
from common import clip_parser, default_clip, print_figures, profile_file  # bench/, the script's folder
from proctree import run_watched

from cer.core.media import iter_audio_blocks, iter_sampled_frames, probe
from cer.pipeline.demo import write_clip

SAMPLE_EVERY_S = 0.2


def repeated(video: Path, times: int, out: Path) -> Path:
    """`video` played `times` times in a row, re-encoded into one file."""
    info = probe(video)
    frames = [f.image for f in iter_sampled_frames(info, info.fps, max(info.width, info.height))]
    fps = round(info.fps)
    audio = np.concatenate(list(iter_audio_blocks(info))) if info.has_audio else None
    return write_clip(
        out,
        lambda t: frames[round(t * fps) % len(frames)],
        duration_s=times * len(frames) / fps,
        fps=fps,
        audio=None if audio is None else np.tile(audio, times),
    )


def peak_mb(video: Path, profile: str, out_dir: Path) -> float:
    """The highest memory of the `cer run` process tree while it processes `video`."""
    return run_watched([sys.executable, "-m", "cer", "run", str(video), "--profile", profile, "--out", str(out_dir)], SAMPLE_EVERY_S)[1]


def main() -> None:
    parser = clip_parser(__doc__, "offline")
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        short = default_clip(args.video, scratch)
        long = repeated(short, args.repeat, scratch / "long.mp4")  # write_clip writes H.264 / AAC mp4
        profile = profile_file(args.profile, args.device, scratch)
        print(f"# {short.name}: {probe(short).duration_s:.1f} s; repeated {args.repeat} times: {probe(long).duration_s:.1f} s")
        short_peak = peak_mb(short, profile, scratch / "short-out")
        long_peak = peak_mb(long, profile, scratch / "long-out")
    print_figures({"short_peak_mb": short_peak, "long_peak_mb": long_peak, "memory_ratio": long_peak / short_peak})


if __name__ == "__main__":
    main()
