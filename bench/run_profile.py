"""Wall time and peak memory of `cer run` on real videos, and the per-stage timings.

    .venv/bin/python bench/run_profile.py [--profile offline] [VIDEO ...]

Each run is a fresh `cer run` process (models load inside it, as for a user), measured from
outside: wall time, and the peak resident memory of that process. The experts run in that
process (`engine: inprocess`) so that its peak memory is the whole cost (bench/memory.py
measures the Ray process tree), and the expert-output cache is off so every expert works.
Prints `name: value` lines last.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
DEFAULT_VIDEOS = [SHARED / "single_face.mp4", SHARED / "face_noface.mov"]

# Runs one command and reports its peak RSS; a fresh wrapper per run keeps RUSAGE_CHILDREN to that run.
_MEASURE = (
    "import resource, subprocess, sys; rc = subprocess.run(sys.argv[1:]).returncode; "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, rc)"
)


def measured_profile(profile: str, folder: Path) -> Path:
    path = folder / "bench-profile.yaml"
    path.write_text(f"extends: {profile}\nexecution: {{engine: inprocess}}\ncache: {{enabled: false}}\n")
    return path


def measure(video: Path, profile: Path, out_dir: Path) -> dict:
    command = [
        sys.executable,
        "-c",
        _MEASURE,
        sys.executable,
        "-m",
        "cer",
        "run",
        str(video),
        "--profile",
        str(profile),
        "--out",
        str(out_dir),
    ]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - started
    peak_kb, rc = done.stdout.strip().splitlines()[-1].split()
    if rc != "0":
        raise SystemExit(f"cer run failed on {video}: {done.stderr[-800:]}")
    timings = json.loads((out_dir / "result.json").read_text())["timings"]
    return {"wall_s": wall, "peak_mb": int(peak_kb) / 1024, "timings": timings}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("videos", nargs="*", type=Path, default=DEFAULT_VIDEOS)
    parser.add_argument("--profile", default="offline")
    args = parser.parse_args()
    figures = {}
    with tempfile.TemporaryDirectory() as tmp:
        for video in args.videos:
            stats = measure(video, measured_profile(args.profile, Path(tmp)), Path(tmp) / video.stem)
            print(f"# {video.name}: stage timings {json.dumps(stats['timings'], indent=None)}")
            figures[f"{video.stem}_wall_s"] = stats["wall_s"]
            figures[f"{video.stem}_peak_mb"] = stats["peak_mb"]
            figures[f"{video.stem}_pipeline_total_s"] = stats["timings"]["total_s"]
    for name, value in figures.items():
        print(f"{name}: {value:.2f}")


if __name__ == "__main__":
    main()
