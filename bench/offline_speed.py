"""The offline profile's speed stage by stage, beside an earlier revision's, and how it scales.

    .venv/bin/python bench/offline_speed.py [--seconds 60] [--repeat 3] [--baseline REV] [--engines inprocess ray]
                                            [--variant 'LABEL={execution: {concurrent_experts: false}}' ...] [--loaded]
                                            [--scaling 15 60 300 1200]

Two generated clips of `--seconds` (bench/talking_clip.py): the packaged face drifting across
a grey frame with sentences spoken most of the time ("talking"), and the same face with a quiet
room's noise and no speech ("quiet"). Each run is a fresh `cer run` with the expert-output
cache off, measured from outside (peak memory) and by its result.json (stage timings). Each
configuration runs `--repeat` times and the fastest run is shown (on a shared virtual machine
the same run varies by 10-15 %; the fastest is the least disturbed).

- The realtime factor is seconds of video per second of the pipeline's own time: `total_s`
  less `start_s`, the models loaded (as in a service or a batch, where they load once).
- Stage times are each stage's own seconds: decoding and face finding run in a thread of
  their own, the experts on threads (in process) or actors (Ray) of theirs, so they overlap
  and add up to more than the pipeline's time.
- Idle is the share of the cores' time over the pipeline's time that the process spent on
  nothing: 1 - cpu_s / (pipeline s x cores); in process only (Ray actors' CPU is their own).
- `--baseline REV` runs the same clips with the code of git revision REV (a worktree of this
  repository, on this environment's packages) beside this checkout's, in the same run.
- `--variant LABEL=YAML` also runs this checkout with those profile settings (a YAML mapping
  merged into the offline profile): a lever measured beside the profile as it is.
- `--loaded` also times each configuration as a service or a batch meets its second video: one
  process loads the pipeline, runs the clip, then runs it again and that run is measured. `cer
  run` decodes its first chunks while the models load, so its pipeline time leaves out
  decoding that a loaded service pays for ("loaded" columns).
- `--scaling` runs this checkout once on talking clips of those lengths (seconds) with the first
  engine: pipeline time, peak memory and realtime factor, to show that the cost grows with the
  video's length and the memory does not.

Prints the tables, then `name: value` lines.
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from common import print_figures, profile_file  # bench/, the script's folder
from run_profile import measure
from talking_clip import quiet_face_clip, talking_face_clip

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "pipeline", "modalities", "fusion", "serving", "configs")  # cer's subpackages, at the repository's top
CORES = os.cpu_count() or 1


@dataclass(frozen=True)
class Run:
    """One `cer run`, as measured."""

    video_s: float
    timings: dict
    peak_mb: float

    @property
    def pipeline_s(self) -> float:
        return self.timings["total_s"] - (self.timings.get("start_s") or 0.0)

    @property
    def realtime_factor(self) -> float:
        return self.video_s / self.pipeline_s

    @property
    def idle_share(self) -> float | None:
        cpu_s = self.timings.get("cpu_s")
        work_s = self.pipeline_s - self.timings["outputs_s"]
        return None if cpu_s is None else max(0.0, 1 - cpu_s / (work_s * CORES))

    def stages(self) -> dict[str, float | None]:
        timings = self.timings
        return {
            "decode_s": timings["decode_s"],
            "faces_s": timings["faces_s"],
            **{f"{name}_s": seconds for name, seconds in timings["experts_s"].items() if seconds >= 0.005},
            "fusion_s": timings["fusion_s"],
            "outputs_s": timings["outputs_s"],
            "idle_pct": None if self.idle_share is None else 100 * self.idle_share,
            "pipeline_s": self.pipeline_s,
            "realtime_factor": self.realtime_factor,
            "peak_mb": self.peak_mb,
        }


def code_of(revision: str, scratch: Path) -> Path:
    """A folder holding revision's `cer` package, laid out as the installed one (the repository
    keeps cer's subpackages at its top): put it first on PYTHONPATH to run that revision."""
    tree = scratch / "checkout"
    subprocess.run(["git", "-C", str(REPO), "worktree", "prune"], check=True)  # those of runs that were stopped
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "--force", str(tree), revision], check=True, capture_output=True)
    package = scratch / "code" / "cer"
    package.mkdir(parents=True)
    for source in (tree / "cer").glob("*.py"):
        (package / source.name).symlink_to(source)
    for name in PACKAGES:
        (package / name).symlink_to(tree / name)
    return package.parent


def run(video: Path, engine: str, scratch: Path, code: Path | None, overrides: dict[str, Any], repeat: int, loaded: bool = False) -> Run:
    """The fastest of `repeat` runs of `video` (by pipeline time); `loaded`: each the second
    video of a process whose pipeline ran it once already (a service's case)."""
    profile = Path(profile_file("offline", None, scratch, engine, overrides))
    runs = []
    for _ in range(repeat):
        stats = measure(video, profile, scratch / f"out-{video.stem}", code, second_run=loaded)
        runs.append(Run(stats["video_s"], stats["timings"], stats["peak_mb"]))
    return min(runs, key=lambda measured: measured.pipeline_s)


def variant(text: str) -> tuple[str, dict[str, Any]]:
    """`LABEL=YAML` -> (label, the mapping)."""
    label, _, settings = text.partition("=")
    mapping = yaml.safe_load(settings)
    if not label or not isinstance(mapping, dict):
        raise argparse.ArgumentTypeError(f"expected LABEL={{yaml mapping}}, got {text!r}")
    return label, mapping


def print_table(title: str, columns: dict[str, dict[str, float | None]]) -> None:
    rows = list(dict.fromkeys(row for stages in columns.values() for row in stages))
    width = max(len(name) for name in columns) + 2
    print(f"\n{title}\n{'':18}" + "".join(f"{name:>{width}}" for name in columns))
    for row in rows:
        cells = (columns[name].get(row) for name in columns)
        print(f"{row:18}" + "".join(f"{'-' if cell is None else f'{cell:.2f}':>{width}}" for cell in cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the two clips (default: 60)")
    parser.add_argument("--baseline", metavar="REV", help="also run git revision REV's code on the clips")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each configuration; the fastest is shown (default: 3)")
    parser.add_argument("--engines", nargs="+", choices=("inprocess", "ray"), default=["inprocess", "ray"])
    parser.add_argument("--variant", type=variant, action="append", default=[], help="LABEL=YAML profile settings to run beside")
    parser.add_argument("--scaling", nargs="*", type=float, default=[], metavar="SECONDS", help="talking clips of these lengths")
    parser.add_argument("--loaded", action="store_true", help="also time each as a service's second video (models loaded first)")
    args = parser.parse_args()
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        talking, source = talking_face_clip(scratch / "talking.mp4", args.seconds)
        clips = {"talking": talking, "quiet": quiet_face_clip(scratch / "quiet.mp4", args.seconds)}
        # (column, code, profile settings): the baseline's code, this checkout's, its variants
        configurations: list[tuple[str, Path | None, dict[str, Any]]] = [("head", None, {})]
        configurations += [(label, None, settings) for label, settings in args.variant]
        if args.baseline:
            configurations.insert(0, (args.baseline, code_of(args.baseline, scratch), {}))
        print(f"# {args.seconds:g} s clips; talking: speech from {source}; {CORES} cores")
        for clip, video in clips.items():
            columns = {}
            for engine in args.engines:
                for (label, code, settings), loaded in itertools.product(configurations, [False, True] if args.loaded else [False]):
                    name = f"{label} {engine}" + (" loaded" if loaded else "")
                    measured = run(video, engine, scratch, code, settings, args.repeat, loaded)
                    columns[name] = measured.stages()
                    figures[f"{clip}_{name}_realtime_factor".replace(" ", "_")] = measured.realtime_factor
            print_table(f"{clip}: seconds per stage, idle share of the cores, pipeline time and realtime factor", columns)
        scaling = {}
        for seconds in args.scaling:
            clip, _ = talking_face_clip(scratch / f"talking{seconds:g}s.mp4", seconds)
            measured = run(clip, args.engines[0], scratch, None, {}, 1)
            scaling[f"{seconds:g} s"] = {"pipeline_s": measured.pipeline_s, "s_per_video_min": 60 / measured.realtime_factor}
            scaling[f"{seconds:g} s"] |= {"realtime_factor": measured.realtime_factor, "peak_mb": measured.peak_mb}
            figures[f"scaling_{seconds:g}s_realtime_factor"] = measured.realtime_factor
            figures[f"scaling_{seconds:g}s_peak_mb"] = measured.peak_mb
            clip.unlink()
        if scaling:
            print_table(f"scaling ({args.engines[0]}, talking clips): by video length", scaling)
        if args.baseline:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(scratch / "checkout")], check=True)
    print()
    print_figures(figures)


if __name__ == "__main__":
    main()
