"""EmoAffectNet's input made in torch on the device (static_face.emoaffectnet_input) equals the
one OpenCV made on the CPU before the face experts were staged: the authors' preparation,
nearest-neighbour resize to 224 x 224, RGB to BGR, minus the VGGFace2 channel means."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cer.modalities.face_models import EmoAffectNetResNet50
from cer.modalities.static_face import EMOAFFECTNET_CROP, emoaffectnet_input, nearest_sources
from cer.pipeline.faces import crop_face
from tests.test_face_experts import MULTI_FACE_BOXES, SINGLE_FACE_BOX

SIZE = EmoAffectNetResNet50.input_size
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
# Crops smaller and larger than 224 on each side, odd and even, square and stretched
ODD_SIZES = [(1, 1), (3, 500), (36, 36), (37, 301), (111, 223), (224, 224), (225, 97), (448, 112), (613, 1001)]


def opencv_input(crop: np.ndarray) -> np.ndarray:
    """The input as the expert made it with OpenCV before its preparation moved to torch."""
    resized = cv2.resize(crop, (SIZE, SIZE), interpolation=cv2.INTER_NEAREST)
    bgr = resized[..., ::-1].astype(np.float32) - np.asarray(EmoAffectNetResNet50.bgr_mean, dtype=np.float32)
    return bgr.transpose(2, 0, 1)


@pytest.fixture(scope="module")
def model() -> EmoAffectNetResNet50:
    """EmoAffectNet ResNet-50 with seeded random weights (as the tiny model): what matters is the
    same network reading both inputs."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return EmoAffectNetResNet50().eval()


def random_crops(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for height, width in ODD_SIZES]


def real_crops(shared_data: Path) -> list[np.ndarray]:
    """The faces of the shared photos, cut at the offline detector's boxes as EmoAffectNet cuts them."""
    single, multi = (cv2.cvtColor(cv2.imread(str(shared_data / name)), cv2.COLOR_BGR2RGB) for name in ("single_face.jpg", "multi_face.jpg"))
    faces = [(single, SINGLE_FACE_BOX)] + [(multi, box) for box in MULTI_FACE_BOXES.values()]
    return [crop_face(image, box, EMOAFFECTNET_CROP) for image, box in faces]


def assert_same_as_opencv(crops: list[np.ndarray], device: str, model: EmoAffectNetResNet50) -> None:
    ours = emoaffectnet_input(crops, device)
    theirs = torch.from_numpy(np.stack([opencv_input(crop) for crop in crops])).to(device)
    assert ours.shape == theirs.shape == (len(crops), 3, SIZE, SIZE)
    assert ours.dtype == theirs.dtype == torch.float32
    assert ours.is_contiguous()
    assert float((ours - theirs).abs().max()) <= 1e-4
    on_device = model.to(device)
    with torch.inference_mode():
        ours_probs, theirs_probs = (torch.softmax(on_device(batch), dim=1).cpu().numpy() for batch in (ours, theirs))
    np.testing.assert_allclose(ours_probs, theirs_probs, atol=1e-5, rtol=0)


@pytest.mark.parametrize("device", DEVICES)
def test_crops_of_odd_sizes_give_opencvs_input_and_probabilities(device: str, model: EmoAffectNetResNet50) -> None:
    assert_same_as_opencv(random_crops(), device, model)


@pytest.mark.parametrize("device", DEVICES)
def test_the_faces_of_the_shared_photos_give_opencvs_input_and_probabilities(
    shared_data: Path, device: str, model: EmoAffectNetResNet50
) -> None:
    assert_same_as_opencv(real_crops(shared_data), device, model)


def test_the_nearest_pixels_are_opencvs_for_every_size_up_to_1200() -> None:
    # enlarging and shrinking to 224, along rows and along columns
    rng = np.random.default_rng(0)
    for source in range(1, 1201):
        column = rng.integers(0, 256, (source, 1), dtype=np.uint8)
        expected = cv2.resize(column, (1, SIZE), interpolation=cv2.INTER_NEAREST)[:, 0]
        assert np.array_equal(column[nearest_sources(source, SIZE), 0], expected), source
        row = column.T.copy()
        assert np.array_equal(row[0, nearest_sources(source, SIZE)], cv2.resize(row, (SIZE, 1), interpolation=cv2.INTER_NEAREST)[0]), source


def test_torch_nearest_interpolation_is_not_opencvs() -> None:
    # why emoaffectnet_input gathers at indices of its own: where i * 36 / 224 is whole, the two
    # roundings may land on either side of it (row 168 of 224 reads 27 in torch, 26 in OpenCV)
    rows = torch.arange(36, dtype=torch.float32).reshape(1, 1, 36, 1)
    torch_rows = F.interpolate(rows, size=(SIZE, 1), mode="nearest").flatten().long().numpy()
    assert (torch_rows[168], nearest_sources(36, SIZE)[168]) == (27, 26)
