"""Wall time and peak memory of `cer run` on real videos, and the per-stage timings.

    .venv/bin/python bench/run_profile.py [--profile offline] [--engine inprocess] [--talking 60] [VIDEO ...]

Each run is a fresh `cer run` process (models load inside it, as for a user), measured from
outside: wall time, and the peak resident memory of that process. By default the experts run
in that process (`--engine inprocess`) so that its peak memory is the whole cost
(bench/memory.py measures the Ray process tree), and the expert-output cache is off so every
expert works. `--talking 60` adds a generated 60 s clip with a face and speech most of the
time (bench/talking_clip.py). The realtime factor is seconds of video per second of the
pipeline's own time (`total_s` less `start_s`: decoding to outputs, the models loaded; `cer
run` starts its experts while the first chunks decode), and per second of the whole process
(`wall`: Python, imports and model loading included).
Prints `name: value` lines last.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import profile_file  # bench/, the script's folder

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
DEFAULT_VIDEOS = [SHARED / "single_face.mp4", SHARED / "face_noface.mov"]

# Runs one command and reports its peak RSS; a fresh wrapper per run keeps RUSAGE_CHILDREN to that run.
_MEASURE = (
    "import resource, subprocess, sys; rc = subprocess.run(sys.argv[1:]).returncode; "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, rc)"
)


# A service's or a batch's case: the pipeline loaded and warmed up on the video, then the
# video again from its first byte, its outputs written (result.json's timings are that run's)
_SECOND_RUN = (
    "import sys; from cer.pipeline import Pipeline; video, profile, out = sys.argv[1:]; "
    "pipeline = Pipeline.from_profile(profile); pipeline.run(video); pipeline.run(video, out); pipeline.close()"
)


def measure(video: Path, profile: Path, out_dir: Path, code: Path | None = None, second_run: bool = False) -> dict:
    """One fresh `cer run` of `video`: wall time, peak memory, result.json's timings and the
    video's length. `code`: a folder holding another revision's `cer` package to run instead
    of this checkout's (bench/offline_speed.py's baseline), on this environment's packages.
    `second_run`: a process that loads the pipeline, runs the video, then runs it again and
    writes that run's results instead (the models loaded before any decoding, as in a service)."""
    if second_run:
        run = ["-c", _SECOND_RUN, str(video), str(profile), str(out_dir)]
    else:
        run = ["-m", "cer", "run", str(video), "--profile", str(profile), "--out", str(out_dir)]
    command = [sys.executable, "-c", _MEASURE, sys.executable, *run]
    # Run elsewhere than the checkout, so that its `cer/` folder is not found first
    where = {"cwd": out_dir.parent, "env": {**os.environ, "PYTHONPATH": str(code)}} if code is not None else {}
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, **where)
    wall = time.perf_counter() - started
    peak_kb, rc = done.stdout.strip().splitlines()[-1].split()
    if rc != "0":
        raise SystemExit(f"cer run failed on {video}: {done.stderr[-800:]}")
    result = json.loads((out_dir / "result.json").read_text())
    return {"wall_s": wall, "peak_mb": int(peak_kb) / 1024, "timings": result["timings"], "video_s": result["video"]["duration_s"]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("videos", nargs="*", type=Path)
    parser.add_argument("--profile", default="offline")
    parser.add_argument("--engine", choices=("inprocess", "ray", "auto"), default="inprocess")
    parser.add_argument("--talking", type=float, metavar="SECONDS", help="also a generated clip with a face and speech, this long")
    args = parser.parse_args()
    figures = {}
    with tempfile.TemporaryDirectory() as tmp:
        videos = list(args.videos) or ([] if args.talking else DEFAULT_VIDEOS)
        if args.talking:
            from talking_clip import talking_face_clip  # bench/, the script's folder

            clip, speech = talking_face_clip(Path(tmp) / f"talking{args.talking:g}s.mp4", args.talking)
            print(f"# {clip.name}: speech from {speech}")
            videos.append(clip)
        for video in videos:
            stats = measure(video, Path(profile_file(args.profile, None, Path(tmp), args.engine)), Path(tmp) / video.stem)
            print(f"# {video.name}: stage timings {json.dumps(stats['timings'], indent=None)}")
            figures[f"{video.stem}_wall_s"] = stats["wall_s"]
            figures[f"{video.stem}_peak_mb"] = stats["peak_mb"]
            figures[f"{video.stem}_pipeline_total_s"] = stats["timings"]["total_s"]
            figures[f"{video.stem}_experts_start_s"] = stats["timings"]["start_s"]
            figures[f"{video.stem}_realtime_factor"] = stats["video_s"] / (stats["timings"]["total_s"] - stats["timings"]["start_s"])
            figures[f"{video.stem}_realtime_factor_wall"] = stats["video_s"] / stats["wall_s"]
    for name, value in figures.items():
        print(f"{name}: {value:.2f}")


if __name__ == "__main__":
    main()
