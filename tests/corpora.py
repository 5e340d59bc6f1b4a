"""Miniature corpora in each dataset's exact on-disk layout: short synthetic clips with known
labels. A clip's colour encodes its label (see `colour_of`), so that a test expert can read it."""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from cer.core.labels import BASIC
from cer.pipeline.demo import write_clip

FPS = 10
SIZE = (48, 64)  # height, width in pixels: small, so decoding costs next to nothing


def colour_of(label: int) -> np.ndarray:
    """A colour per BASIC index, far apart from one another (RGB)."""
    hue = 2 * np.pi * label / len(BASIC)
    return (127 + 100 * np.array([np.cos(hue), np.cos(hue + 2.1), np.cos(hue + 4.2)])).astype(np.uint8)


def label_of(frame: np.ndarray) -> int:
    """The BASIC index whose colour is nearest to the frame's mean colour."""
    mean = frame.reshape(-1, 3).mean(axis=0)
    return int(np.argmin([np.linalg.norm(mean - colour_of(k)) for k in range(len(BASIC))]))


def clip(path: Path, labels: Sequence[int], seed: int = 0) -> Path:
    """A clip of one second per entry of `labels`, each second in its label's colour (a little
    noise keeps encoders from collapsing the frames)."""
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)

    def frame(t: float) -> np.ndarray:
        colour = colour_of(labels[min(int(t), len(labels) - 1)])
        noise = rng.integers(-6, 7, size=(*SIZE, 3))
        return np.clip(colour + noise, 0, 255).astype(np.uint8)

    return write_clip(path, frame, duration_s=float(len(labels)), fps=FPS)


def afew(root: Path, splits: Mapping[str, Mapping[str, int]]) -> Path:
    """ROOT/SPLIT/EMOTION_FOLDER/NAME.avi for {split: {name: BASIC index}} (AFEW names its
    folders Angry, Happy, Sad... rather than our class names)."""
    folders = {
        "Anger": "Angry",
        "Disgust": "Disgust",
        "Fear": "Fear",
        "Happiness": "Happy",
        "Neutral": "Neutral",
        "Sadness": "Sad",
        "Surprise": "Surprise",
    }
    for split, clips in splits.items():
        for name, label in clips.items():
            # Seeded by name: clips of one label in two splits must differ, as the cache goes by content.
            clip(root / split / folders[BASIC[label]] / f"{name}.avi", [label], seed=zlib.crc32(name.encode()))
    return root


def frame_annotation(path: Path, header: Sequence[str], labels: Sequence[int]) -> Path:
    """An AffWild2-style label file: the class names, then one label per frame."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(",".join(header) + "\n" + "".join(f"{k}\n" for k in labels))
    return path


def per_frame(labels_per_second: Sequence[int]) -> list[int]:
    return [label for label in labels_per_second for _ in range(FPS)]
