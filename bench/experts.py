"""Per-window time of each expert of a profile (the `tiny` one by default), each run alone.

    .venv/bin/python bench/experts.py [--profile tiny] [--device cpu] [--repeat 3] [--expert NAME ...] [VIDEO]

The clip (by default the shared face-then-no-face clip, else a generated demo clip) is decoded
and its faces tracked once, as the runner does. Then each enabled expert of the profile is
built, warmed up on the first chunk (untimed: lazy initialisation and allocator growth are not
per-window costs), and its `predict` timed over every chunk, `repeat` times. The per-window
figure includes the work windows share (each frame embedded once per chunk), as the pipeline
pays it. Prints `EXPERT_ms_per_window: value` lines last.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from common import clip_parser, default_clip, print_figures  # bench/, the script's folder

from cer.core.chunks import tracked_chunks
from cer.core.config import Profile, load_profile, with_device
from cer.core.types import Chunk
from cer.modalities.factory import build_expert


def ms_per_window(name: str, profile: Profile, chunks: list[Chunk], repeat: int) -> float:
    expert = build_expert(name, profile.experts[name], profile.expert_context)
    expert.predict(chunks[0])  # warm-up
    n_windows = sum(len(chunk.windows) for chunk in chunks)
    started = time.perf_counter()
    for _ in range(repeat):
        for chunk in chunks:
            expert.predict(chunk)
    return (time.perf_counter() - started) * 1000 / (n_windows * repeat)


def main() -> None:
    parser = clip_parser(__doc__, "tiny")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--expert", action="append", help="time only these experts (default: every enabled one)")
    args = parser.parse_args()
    profile = with_device(load_profile(args.profile), args.device)
    names = args.expert or list(profile.enabled_experts())
    with tempfile.TemporaryDirectory() as scratch:
        chunks = list(tracked_chunks(default_clip(args.video, Path(scratch)), profile))
    n_windows = sum(len(chunk.windows) for chunk in chunks)
    print(f"# {profile.name} profile, {n_windows} window(s) in {len(chunks)} chunk(s), {args.repeat} timed pass(es)")
    print_figures({f"{name}_ms_per_window": ms_per_window(name, profile, chunks, args.repeat) for name in names})


if __name__ == "__main__":
    main()
