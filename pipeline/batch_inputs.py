"""Which videos a batch covers, and where each one's outputs go.

An input is a folder (searched recursively for video files), a CSV manifest with a `path`
column (relative paths are taken from the manifest's folder), or a file path or glob pattern.
"""

from __future__ import annotations

import csv
import glob
import hashlib
from collections.abc import Sequence
from pathlib import Path

# Containers PyAV (FFmpeg) reads that people keep videos in; matched case-insensitively.
VIDEO_EXTENSIONS = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp"})


def _in_folder(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file())


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


def find_videos(inputs: Sequence[str]) -> list[Path]:
    """Every video the inputs name, absolute, each once, in the order first named."""
    found: dict[Path, None] = {}  # a dict keeps the order and drops repeats
    for name in inputs:
        path = Path(name).expanduser()
        if path.is_dir():
            videos = _in_folder(path)
        elif path.suffix.lower() == ".csv" and path.is_file():
            videos = _in_manifest(path)
        else:
            videos = _matching(str(path))
        found.update(dict.fromkeys(v.resolve() for v in videos))
    if not found:
        raise ValueError(f"no videos found in {', '.join(inputs)}")
    return list(found)


def output_folder(root: Path, video: Path) -> Path:
    """The folder of one video's outputs: its name and a short hash of its absolute path, so
    that equal names from different folders do not collide and a re-run finds the same one."""
    digest = hashlib.sha1(str(video.resolve()).encode()).hexdigest()[:8]
    return root / f"{video.stem}-{digest}"
