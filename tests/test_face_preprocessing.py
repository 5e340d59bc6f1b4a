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

from cer.core.face_crops import crop_face
from cer.modalities.face_models import EmoAffectNetResNet50
from cer.modalities.static_face import EMOAFFECTNET_CROP, emoaffectnet_input, nearest_sources
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


# --- the 2025 code's rules (the paper profile) ----------------------------------------------


@pytest.mark.parametrize(("source", "target"), [(36, 224), (224, 224), (301, 224), (97, 224), (1000, 224)])
def test_pil_nearest_samples_pixel_centres_as_pil_does(source: int, target: int) -> None:
    from PIL import Image

    from cer.modalities.static_face import nearest_sources

    row = np.arange(source, dtype=np.int32)[None].repeat(2, axis=0)
    resized = np.asarray(Image.fromarray(row).resize((target, 2), Image.Resampling.NEAREST))[0]
    np.testing.assert_array_equal(nearest_sources(source, target, "pil_nearest"), resized)


def test_the_2025_crop_widens_corners_by_a_tenth_and_clips() -> None:
    from cer.core.face_crops import crop_face
    from cer.core.types import FaceBox
    from cer.modalities.static_face import EMOAFFECTNET_2025_CROP

    image = np.arange(200 * 300 * 3, dtype=np.uint8).reshape(200, 300, 3)
    box = FaceBox(x0=100.0, y0=50.0, x1=200.0, y1=150.0, score=0.9)
    crop = crop_face(image, box, EMOAFFECTNET_2025_CROP)
    # left 100 * 0.9 = 90, top 45, right 220, bottom 165
    np.testing.assert_array_equal(crop, image[45:165, 90:220])
    near_edge = FaceBox(x0=250.0, y0=150.0, x1=290.0, y1=195.0, score=0.9)
    assert crop_face(image, near_edge, EMOAFFECTNET_2025_CROP).shape == (200 - 135, 300 - 225, 3)  # clipped, never filled


def test_the_paper_profile_takes_the_2025_rules_and_the_default_the_2024_ones() -> None:
    from cer.core.config import load_profile
    from cer.core.options import DynamicFaceOptions, StaticFaceOptions
    from cer.modalities.dynamic_face import sliding_sequences
    from cer.modalities.static_face import EMOAFFECTNET_2025_CROP, EMOAFFECTNET_CROP, architecture_for

    for name, crop, trailing in (("paper", EMOAFFECTNET_2025_CROP, True), ("default", EMOAFFECTNET_CROP, False)):
        profile = load_profile(name)
        static = StaticFaceOptions.model_validate(profile.experts["static_face"].options)
        dynamic = DynamicFaceOptions.model_validate(profile.experts["dynamic_face"].options)
        assert architecture_for(static).crop == crop and architecture_for(dynamic).crop == crop
        assert dynamic.trailing_sequences is trailing
    assert len(sliding_sequences(20, trailing=True)) == 4 and sliding_sequences(20, trailing=True)[-1] == [15, 16, 17, 18, 19] + [19] * 5
    assert len(sliding_sequences(20)) == 3


def test_the_pil_rule_input_is_pils_resize_then_the_mean_subtraction() -> None:
    from PIL import Image

    crop = np.random.default_rng(3).integers(0, 256, size=(61, 47, 3), dtype=np.uint8)
    ours = emoaffectnet_input([crop], "cpu", rule="pil_nearest")[0].permute(1, 2, 0).numpy()
    resized = np.asarray(Image.fromarray(crop).resize((224, 224), Image.Resampling.NEAREST))
    expected = resized[..., ::-1].astype(np.float32) - np.array(EmoAffectNetResNet50.bgr_mean, dtype=np.float32)
    np.testing.assert_allclose(ours, expected, atol=1e-4)
