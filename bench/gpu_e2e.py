"""The default profile end to end: `cer run` on one 60 s video (in process and on Ray) and
`cer batch` over 8 such videos (Ray), with every model at full size and random weights.

    python bench/gpu_e2e.py                                 # full size, on the GPU
    python bench/gpu_e2e.py --scale tiny --device cpu       # the same code paths on a CPU, in minutes

--scale full: every model of the default profile at its real size with random weights, built
by bench/full_size_models.py into a scratch model cache (nothing is downloaded: the GPU
machine has no network, and speed and memory do not depend on the weights' values). The
Silero VAD is the real one, from the model cache (`cer models pull --profile offline` puts it
there; carry that cache's pypi/ folder to a machine without network). --scale tiny: the
`tiny` profile's miniature models (`cer models make-tiny`).

The profile is `tiny` (its `tiny:` sources) with the default profile's chunks and, at full
scale, its scene pixels and new tokens; so the default's options hold except two: faces are
found by OpenCV's Haar cascade (YuNet, the default detector, is a download) and Whisper does not
retry at higher temperatures (random weights fail every quality check, and the retries would
time a failure mode). Random weights never end a description early, so every scene
description runs to `max_new_tokens`: the worst case.

The videos: the packaged smiling face, moving, and speech most of the time (bench/talking_clip.py).
Prints `name: value` lines last: realtime factors (seconds of video per second of wall time),
per-expert seconds, the mean batch (items per forward pass) per expert and the peak GPU memory.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from common import NO_CACHE, print_figures  # bench/, the script's folder
from talking_clip import talking_face_clip

from cer.core.config import Profile, load_profile
from cer.core.options import SceneOptions


def bench_profile(scale: str, device: str, cache: Path, engine: str) -> Profile:
    """The tiny profile (its `tiny:` sources, Haar faces, no Whisper retries) on `cache`'s
    models; at full scale with the scene options of the default profile (tiny shrinks them)."""
    default = load_profile("default")
    experts: dict[str, Any] = {name: {"device": device} for name in default.experts}
    if scale == "full":
        scene = SceneOptions.model_fields
        experts["scene"]["options"] = {key: scene[key].default for key in ("max_pixels", "min_pixels", "max_new_tokens")}
    overrides: dict[str, Any] = {
        "cache_dir": str(cache),
        **NO_CACHE,  # every expert works on every run
        "media": default.media.model_dump(),
        "execution": {"engine": engine},
        "experts": experts,
    }
    return load_profile("tiny", overrides)


@contextmanager
def gpu_memory_peak() -> Iterator[dict[str, float]]:
    """The highest GPU memory in use (MiB, all processes: Ray's actors too), sampled by nvidia-smi
    twice a second while the block runs; {} without a GPU."""
    found: dict[str, float] = {}
    if shutil.which("nvidia-smi") is None:
        yield found
        return
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            used = subprocess.run(
                ["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"], capture_output=True, text=True, check=False
            )
            values = [float(v) for v in used.stdout.split()] if used.returncode == 0 else []
            if values:
                found["peak_gpu_mib"] = max(found.get("peak_gpu_mib", 0.0), max(values))
            stop.wait(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield found
    finally:
        stop.set()
        sampler.join()


def mean_batches(counts: dict[str, tuple[int, int]], prefix: str) -> dict[str, float]:
    """Items per forward pass, per expert that ran any."""
    return {f"{prefix}_mean_batch_{name}": items / calls for name, (calls, items) in counts.items() if calls}


def bench_run(video: Path, video_s: float, profile: Profile, engine: str) -> dict[str, float]:
    """`cer run` once: start-up (models, Ray) and the run, timed apart."""
    from cer.pipeline.runner import Pipeline

    figures: dict[str, float] = {}
    with gpu_memory_peak() as peak:
        started = time.perf_counter()
        with Pipeline(profile) as pipeline:
            startup_s = time.perf_counter() - started
            started = time.perf_counter()
            result = pipeline.run(video)
            run_s = time.perf_counter() - started
            figures.update(mean_batches(pipeline.executor.batch_counts(), f"run_{engine}"))
    figures[f"realtime_factor_run_{engine}"] = video_s / run_s
    figures[f"realtime_factor_run_{engine}_with_startup"] = video_s / (startup_s + run_s)
    figures[f"run_{engine}_startup_s"] = startup_s
    figures.update({f"run_{engine}_{name}_s": seconds for name, seconds in result.timings.experts_s.items()})
    figures.update({f"run_{engine}_{k}": v for k, v in peak.items()})
    return figures


def bench_batch(video: Path, video_s: float, copies: int, profile: Profile, scratch: Path) -> dict[str, float]:
    """`cer batch` over `copies` links to the video (each its own output folder), start-up included."""
    from cer.pipeline.batch import run_batch

    folder = scratch / "batch-in"
    folder.mkdir()
    for i in range(copies):
        (folder / f"video{i}.mp4").symlink_to(video)
    counts: dict[str, tuple[int, int]] = {}
    with gpu_memory_peak() as peak:
        started = time.perf_counter()
        rows = run_batch([str(folder)], scratch / "batch-out", profile, batch_counts=counts)
        wall_s = time.perf_counter() - started
    failed = [row for row in rows if row.status != "done"]
    if failed:
        raise SystemExit(f"cer batch failed on {len(failed)} videos: {failed[0].error}")
    figures = {"realtime_factor_batch": copies * video_s / wall_s, **mean_batches(counts, "batch")}
    return figures | {f"batch_{k}": v for k, v in peak.items()}


def model_cache(scale: str, device: str, scratch: Path) -> Path:
    """The folder the bench profile reads its models from."""
    home = load_profile("offline").cache_path
    if scale == "tiny":
        return home
    from full_size_models import build_full_size_models  # bench/, the script's folder

    cache = scratch / "models"
    cache.mkdir()
    (cache / "pypi").symlink_to(home / "pypi")  # the real Silero VAD (and nothing the bench builds)
    build_full_size_models(cache, device)
    return cache


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=("full", "tiny"), default="full", help="full-size random models, or the tiny ones")
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--video-s", type=float, default=60.0, help="length of each video (default 60)")
    parser.add_argument("--videos", type=int, default=8, help="videos in the batch (default 8)")
    parser.add_argument("--engines", default="inprocess,ray", help="engines for `cer run` (default inprocess,ray)")
    parser.add_argument("--no-batch", action="store_true", help="skip `cer batch`")
    args = parser.parse_args()
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            sys.exit("no GPU here: use --device cpu (with --scale tiny: the miniature models)")
    with tempfile.TemporaryDirectory(prefix="cer-gpu-e2e-") as scratch_name:
        scratch = Path(scratch_name)
        video, speech = talking_face_clip(scratch / "talking.mp4", args.video_s)
        print(f"# {args.scale} scale on {args.device}; speech: {speech}")
        cache = model_cache(args.scale, args.device, scratch)
        figures: dict[str, float] = {"video_s": args.video_s}
        for engine in args.engines.split(","):
            figures.update(bench_run(video, args.video_s, bench_profile(args.scale, args.device, cache, engine), engine))
        if not args.no_batch:
            figures.update(bench_batch(video, args.video_s, args.videos, bench_profile(args.scale, args.device, cache, "ray"), scratch))
    print_figures(figures)


if __name__ == "__main__":
    main()
