"""What scoring each person costs: time and peak memory of `cer run` on a clip with 1, 2 and 4
faces (one of them speaking), with persons scored (the default) and without (`--persons 0`:
the whole-video view alone), side by side in one run.

    .venv/bin/python bench/persons.py [--profile offline] [--device cpu] [--seconds 60]

Each figure is one fresh `cer run` process (models loaded in it, as a user's run), its memory
that of the whole process tree sampled every 0.2 s (bench/memory.py). The expert-output cache
is off. Per extra person: the difference between the 4-face and the 1-face runs, over 3.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from common import print_figures, profile_file  # bench/, the script's folder
from people_clips import faces_clip
from proctree import run_watched

FACE_PX = 220  # four faces fit across a 960 px frame at this size
COUNTS = (1, 2, 4)
SAMPLE_EVERY_S = 0.2


def run(video: Path, profile: str, out_dir: Path, persons: int | None) -> tuple[float, float, int]:
    """Seconds, peak MB of the process tree, and the persons the result lists, for one `cer run`."""
    command = [sys.executable, "-m", "cer", "run", str(video), "--profile", profile, "--out", str(out_dir), "--quiet"]
    if persons is not None:
        command += ["--persons", str(persons)]
    seconds, peak = run_watched(command, SAMPLE_EVERY_S)
    return seconds, peak, len(json.loads((out_dir / "result.json").read_text())["persons"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="offline")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each clip (default: 60)")
    args = parser.parse_args()
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        profile = profile_file(args.profile, args.device, scratch)
        for count in COUNTS:
            clip = faces_clip(scratch / f"faces{count}.mp4", [FACE_PX] * count, speaker=count - 1, duration_s=args.seconds)
            whole_s, whole_mb, _ = run(clip, profile, scratch / f"whole{count}", persons=0)
            each_s, each_mb, found = run(clip, profile, scratch / f"each{count}", persons=None)
            print(f"# {count} face(s), {args.seconds:.0f} s: {found} person(s) scored")
            figures |= {
                f"faces{count}_whole_video_s": whole_s,
                f"faces{count}_per_person_s": each_s,
                f"faces{count}_whole_video_peak_mb": whole_mb,
                f"faces{count}_per_person_peak_mb": each_mb,
                f"faces{count}_persons_found": found,
            }
    first, last = COUNTS[0], COUNTS[-1]
    extra = last - first
    figures["seconds_per_extra_person"] = (figures[f"faces{last}_per_person_s"] - figures[f"faces{first}_per_person_s"]) / extra
    figures["mb_per_extra_person"] = (figures[f"faces{last}_per_person_peak_mb"] - figures[f"faces{first}_per_person_peak_mb"]) / extra
    figures["per_person_over_whole_video_4_faces"] = figures[f"faces{last}_per_person_s"] / figures[f"faces{last}_whole_video_s"]
    print_figures(figures)


if __name__ == "__main__":
    main()
