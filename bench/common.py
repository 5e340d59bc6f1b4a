"""What the benchmarks share: the clip they use, the profile options every one accepts
(`--profile`, `--device`), and the closing `name: value` lines."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from cer.core.config import load_profile, merge_settings

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


def profile_file(
    profile: str, device: str | None, folder: Path, engine: str | None = None, overrides: dict[str, Any] | None = None, name: str = "bench"
) -> str:
    """A profile for a `cer` subprocess: `profile` without the expert-output cache, with every
    expert on `device`, the experts run by `engine` and the nested `overrides` where those are
    given (written to FOLDER/PROFILE-NAME.yaml)."""
    import yaml

    settings: dict[str, Any] = {"extends": profile, "cache": {"enabled": False}}
    if engine is not None:
        settings["execution"] = {"engine": engine}
    if device is not None:
        settings["experts"] = {expert: {"device": device} for expert in load_profile(profile).experts}
    path = folder / f"{Path(profile).stem}-{name}.yaml"
    path.write_text(yaml.safe_dump(merge_settings(settings, overrides or {}), sort_keys=False))
    return str(path)


def default_clip(given: Path | None, scratch: Path) -> Path:
    """The clip named, else the shared face-then-no-face clip, else a generated demo clip."""
    if given is not None:
        return given
    if SHARED_CLIP.is_file():
        return SHARED_CLIP
    from cer.pipeline.demo import build_demo_clip

    return build_demo_clip(scratch / "demo.mp4")


def print_figures(figures: dict[str, float]) -> None:
    for name, value in figures.items():
        print(f"{name}: {value:.3f}")
