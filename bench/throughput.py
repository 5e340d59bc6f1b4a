"""Seconds of video processed per second of wall time, per profile, and how `cer batch`
scales from one video to several.

    .venv/bin/python bench/throughput.py [--profile tiny --profile offline] [--device cpu] [--copies 8] [VIDEO]

realtime_factor_<profile>: the clip's duration over the wall time of one `Pipeline.run`, with
the models loaded and one warm-up run done first; each profile runs on its own engine (Ray
actors for offline and default, in process for tiny).
batch_scaling: `cer batch` over `--copies` copies of the clip versus over one copy, each a
fresh command as a user runs it, start-up included: (videos per second with the copies) /
(videos per second with one). Uses the first profile.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import NO_CACHE, clip_parser, default_clip, print_figures, profile_file  # bench/, the script's folder

from cer.core.config import load_profile, with_device
from cer.core.media import probe
from cer.pipeline.runner import Pipeline


def realtime_factor(video: Path, profile: str, device: str | None) -> float:
    with Pipeline(with_device(load_profile(profile, NO_CACHE), device)) as pipeline:
        pipeline.run(video)  # warm-up
        started = time.perf_counter()
        pipeline.run(video)
        wall = time.perf_counter() - started
    return probe(video).duration_s / wall


def batch_wall_s(folder: Path, profile: str, out_dir: Path) -> float:
    command = [sys.executable, "-m", "cer", "batch", str(folder), "--out", str(out_dir), "--profile", profile]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"cer batch failed on {folder}: {done.stderr[-1500:]}")
    print(f"# {done.stdout.strip().splitlines()[0]}")
    return wall


def main() -> None:
    parser = clip_parser(__doc__, None)
    parser.add_argument("--profile", action="append", help="profile name or YAML file; repeat for several (default: tiny and offline)")
    parser.add_argument("--copies", type=int, default=8)
    args = parser.parse_args()
    profiles = args.profile or ["tiny", "offline"]
    figures = {}
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        clip = default_clip(args.video, scratch)
        for profile in profiles:
            figures[f"realtime_factor_{Path(profile).stem}"] = realtime_factor(clip, profile, args.device)
        one, many = scratch / "one", scratch / "many"
        one.mkdir()
        many.mkdir()
        shutil.copy(clip, one / clip.name)
        for i in range(args.copies):
            shutil.copy(clip, many / f"{clip.stem}-{i}{clip.suffix}")
        batch_profile = profile_file(profiles[0], args.device, scratch)
        one_s = batch_wall_s(one, batch_profile, scratch / "one-out")
        many_s = batch_wall_s(many, batch_profile, scratch / "many-out")
    figures["batch_one_s"], figures[f"batch_{args.copies}_s"] = one_s, many_s
    figures["batch_scaling"] = (args.copies / many_s) / (1 / one_s)
    print_figures(figures)


if __name__ == "__main__":
    main()
