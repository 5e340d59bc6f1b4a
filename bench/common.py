"""What the benchmarks share: the clip they use, the profile options every one accepts
(`--profile`, `--device`), and the closing `name: value` lines."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from cer.pipeline.chunks import iter_chunks
from cer.pipeline.config import Profile, load_profile
from cer.pipeline.faces import FaceTracker
from cer.pipeline.media import probe
from cer.pipeline.types import Chunk
from cer.pipeline.windows import make_windows

FRAME_SHAPE = (540, 960, 3)  # a sampled frame of a 16:9 video at the default `media.max_side: 960`
SHARED_CLIP = Path(__file__).resolve().parents[2] / "shared" / "data" / "face_noface.mov"
# Benchmarks time the experts; outputs the expert-output cache remembers would skip them.
NO_CACHE: dict[str, Any] = {"cache": {"enabled": False}}


def clip_parser(doc: str | None, profile: str | None) -> argparse.ArgumentParser:
    """A benchmark's options: an optional clip, `--device`, and `--profile` unless None."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("video", nargs="?", type=Path, help="the clip (default: the shared face_noface.mov)")
    if profile is not None:
        parser.add_argument("--profile", default=profile, help=f"profile name or YAML file (default: {profile})")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), help="set every expert's device (default: from the profile)")
    return parser


def expert_overrides(profile: str, device: str | None) -> dict[str, Any]:
    """Profile overrides that put every expert of `profile` on `device`."""
    if device is None:
        return {}
    return {"experts": {name: {"device": device} for name in load_profile(profile).experts}}


def profile_file(profile: str, device: str | None, folder: Path) -> str:
    """A profile for a `cer` subprocess: `profile` without the expert-output cache, and with
    every expert on `device` when one is given."""
    path = folder / f"{Path(profile).stem}-bench.yaml"
    lines = [f"extends: {profile}", "cache: {enabled: false}"]
    if device is not None:
        lines.append("experts: {" + ", ".join(f"{name}: {{device: {device}}}" for name in load_profile(profile).experts) + "}")
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def default_clip(given: Path | None, scratch: Path) -> Path:
    """The clip named, else the shared face-then-no-face clip, else a generated demo clip."""
    if given is not None:
        return given
    if SHARED_CLIP.is_file():
        return SHARED_CLIP
    from cer.pipeline.demo import build_demo_clip

    return build_demo_clip(scratch / "demo.mp4")


def decoded_chunks(video: Path, profile: Profile) -> list[Chunk]:
    """Every chunk of the video with its faces tracked, as the runner prepares them: the
    experts' input, made once before any clock starts."""
    info = probe(video)
    cfg = profile.windows
    windows = make_windows(info.duration_s, info.fps, info.n_frames, cfg.length_s, cfg.hop_s, cfg.min_tail_s)
    faces = FaceTracker(profile.faces, profile.cache_path)
    chunks = []
    for work in iter_chunks(info, windows, profile.media):
        faces.process(work.new_frames)
        chunks.append(work.chunk)
    return chunks


def print_figures(figures: dict[str, float]) -> None:
    for name, value in figures.items():
        print(f"{name}: {value:.3f}")
