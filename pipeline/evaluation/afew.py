"""AFEW: clips in emotion-named folders under a split folder, one label per clip.

    ROOT/Val_AFEW/Angry/000149120.avi
    ROOT/Val_AFEW/Happy/...
    ROOT/Train_AFEW/...

A clip's prediction is the argmax of its windows' mean fused probabilities. AFEW has no
"Other": macro F1 and UAR average over the classes present (docs/batch-and-evaluation.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

import numpy as np

from cer.core.labels import BASIC, to_basic
from cer.pipeline.evaluation.collect import VideoExperts
from cer.pipeline.evaluation.corpus import Corpus, Scores, Targets, clip_prediction, videos_by_stem

SPLITS = ("Train_AFEW", "Val_AFEW")
FOLDERS = ("Angry", "Disgust", "Fear", "Happy", "Neutral", "Sad", "Surprise")


class Afew(Corpus):
    dataset = "AFEW"
    levels: ClassVar[tuple[str, ...]] = ("clip",)

    def __init__(self, root: Path, split: str = "Val_AFEW") -> None:
        self.root = Path(root).expanduser().resolve()
        self._split = split
        folder = self.root / split
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder}: no such folder (an AFEW split folder such as {' or '.join(SPLITS)})")
        unknown = sorted(p.name for p in folder.iterdir() if p.is_dir() and p.name not in FOLDERS)
        if unknown:
            raise ValueError(f"{folder}: {', '.join(unknown)} is not an AFEW emotion folder ({', '.join(FOLDERS)})")
        self.clips: dict[Path, int] = {}  # clip -> BASIC index
        for emotion in FOLDERS:
            if (folder / emotion).is_dir():
                label = BASIC.index(to_basic(emotion))
                self.clips.update(dict.fromkeys(videos_by_stem(folder / emotion).values(), label))
        if not self.clips:
            raise ValueError(f"{folder}: no video clips in its emotion folders")

    @property
    def spec(self) -> str:
        return f"afew:{self.root}:{self._split}"

    @property
    def split(self) -> str:
        return self._split

    def videos(self) -> list[Path]:
        return list(self.clips)

    def targets(self, data: Mapping[Path, VideoExperts], scores: Scores) -> Targets:
        y_true = np.array(list(self.clips.values()), dtype=np.int64)
        y_pred = np.array([clip_prediction(scores[clip]) for clip in self.clips], dtype=np.int64)
        return {"clip": (y_true, y_pred)}

    def window_labels(self, data: Mapping[Path, VideoExperts]) -> list[tuple[Path, np.ndarray]]:
        return [(clip, np.full(len(data[clip].windows), label, dtype=np.int64)) for clip, label in self.clips.items()]
