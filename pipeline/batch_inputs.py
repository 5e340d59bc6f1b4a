"""Which videos a batch covers, and where each one's outputs go.

An input is a folder (searched recursively for video files), a CSV manifest with a `path`
column (relative paths are taken from the manifest's folder), or a file path or glob pattern.
"""

from __future__ import annotations

import csv
import glob
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

# Containers PyAV (FFmpeg) reads that people keep videos in; matched case-insensitively.
VIDEO_EXTENSIONS = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp"})


@dataclass(frozen=True)
class SkippedFile:
    """A file in an input folder that the batch leaves alone, and why."""

    path: Path
    reason: str


@dataclass
class BatchInputs:
    videos: list[Path]  # absolute, each once, in the order first named
    skipped: list[SkippedFile] = field(default_factory=list)


def _not_a_video(path: Path) -> str:
    return f"not a video ({path.suffix or 'no extension'})"


def _absolute(path: Path) -> Path:
    """The path resolved; a link that leads nowhere is made absolute instead, so that it keeps
    the name the user knows (and a loop does not raise, as Python 3.11's `resolve` would)."""
    if path.is_symlink() and not path.exists():
        return path.absolute()
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # a loop further up the path (RuntimeError before Python 3.13)
        return path.absolute()


def _in_folder(folder: Path) -> tuple[list[Path], list[SkippedFile]]:
    # a link that leads nowhere (a loop, a missing target) is kept: a video among them fails
    # with its reason in failures.csv instead of vanishing from the batch
    files = sorted(p for p in folder.rglob("*") if p.is_file() or (p.is_symlink() and not p.exists()))
    videos = [p for p in files if p.suffix.lower() in VIDEO_EXTENSIONS]
    return videos, [SkippedFile(_absolute(p), _not_a_video(p)) for p in files if p.suffix.lower() not in VIDEO_EXTENSIONS]


def _in_manifest(manifest: Path) -> list[Path]:
    with manifest.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if "path" not in (reader.fieldnames or []):
            raise ValueError(f"{manifest}: a manifest needs a `path` column (found: {', '.join(reader.fieldnames or []) or 'none'})")
        return [manifest.parent / row["path"] for row in reader if row["path"].strip()]


def _matching(pattern: str) -> list[Path]:
    matches = sorted(Path(p) for p in glob.glob(pattern, recursive=True))
    if not matches:
        raise ValueError(f"{pattern}: no such file or folder, and no file matches it")
    return [p for p in matches if p.is_file()]


def scan_inputs(inputs: Sequence[str]) -> BatchInputs:
    """Every video the inputs name, and the files of their folders that are not videos."""
    found: dict[Path, None] = {}  # a dict keeps the order and drops repeats
    skipped: list[SkippedFile] = []
    for name in inputs:
        path = Path(name).expanduser()
        if path.is_dir():
            videos, others = _in_folder(path)
            skipped += others
        elif path.suffix.lower() == ".csv" and path.is_file():
            videos = _in_manifest(path)
        else:
            videos = _matching(str(path))
        found.update(dict.fromkeys(_absolute(v) for v in videos))
    if not found:
        raise ValueError(f"no videos found in {', '.join(inputs)}")
    return BatchInputs(list(found), skipped)


def find_videos(inputs: Sequence[str]) -> list[Path]:
    """Every video the inputs name, absolute, each once, in the order first named."""
    return scan_inputs(inputs).videos


def output_folder(root: Path, video: Path) -> Path:
    """The folder of one video's outputs: its name and a short hash of its absolute path, so
    that equal names from different folders do not collide and a re-run finds the same one."""
    digest = hashlib.sha1(str(_absolute(video)).encode()).hexdigest()[:8]
    return root / f"{video.stem}-{digest}"
