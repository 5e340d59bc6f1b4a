"""open_clip's preprocessing in torch (cer.modalities.clip_transform) against open_clip's own
PIL transform: the pixels the image tower reads, and the embeddings it gives for them.

Pixel differences are counted in 8-bit levels (1/255 of the [0, 1] range, before
normalisation). On the shared media (two photos, frames of two videos, a portrait frame and a
small crop that is enlarged) the torch transform was measured at most 1 level from open_clip's
for the default input (224 px, shortest side, bicubic; on 0.04% of values) and 2 for the other
settings tested (on at most 0.30% of values); the embeddings of both paths had a cosine of at
least 0.9999998, for the tiny CLIP and for a full-size ViT-B-32.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict
from pathlib import Path

import numpy as np
import open_clip
import pytest
import torch
from open_clip.transform import PreprocessCfg, image_transform_v2
from PIL import Image

from cer.core.config import ModelRef
from cer.core.media import iter_sampled_frames, probe
from cer.core.options import ClipLabelsOptions
from cer.modalities.clip_labels import ClipEncoder, build_tiny_clip, load_clip
from cer.modalities.clip_transform import ClipTransform


@pytest.fixture(scope="module")
def images(shared_data: Path) -> dict[str, np.ndarray]:
    """RGB uint8 images of several sizes: the photos, 2 frames of each video, a portrait
    (a frame turned a quarter) and a small crop (enlarged by every setting)."""
    found = {name: np.asarray(Image.open(shared_data / name).convert("RGB")) for name in ("single_face.jpg", "multi_face.jpg")}
    for video in ("single_face.mp4", "face_noface.mov"):
        for frame in itertools.islice(iter_sampled_frames(probe(shared_data / video), 1.0, 960), 2):
            found[f"{video}@{frame.t_s}s"] = frame.image
    first = found["single_face.mp4@0.0s"]
    found["portrait"] = np.ascontiguousarray(np.rot90(first))
    found["small"] = np.ascontiguousarray(first[100:190, 200:320])
    return found


def levels_apart(ours: torch.Tensor, theirs: torch.Tensor, config: PreprocessCfg) -> torch.Tensor:
    """|ours - theirs| of normalised images, in 8-bit levels."""
    std = torch.tensor(config.std).view(3, 1, 1)
    return (ours - theirs).abs() * std * 255


SETTINGS = {
    "default": PreprocessCfg(),  # ViT-B-32 and the tiny CLIP
    "bilinear": PreprocessCfg(interpolation="bilinear"),
    "oblong": PreprocessCfg(size=(256, 192)),
    "squash": PreprocessCfg(resize_mode="squash"),
    "squash_bilinear_oblong": PreprocessCfg(size=(160, 240), resize_mode="squash", interpolation="bilinear"),
}


@pytest.mark.parametrize("setting", SETTINGS)
def test_pixels_match_open_clip(images: dict[str, np.ndarray], setting: str) -> None:
    config = SETTINGS[setting]
    theirs = image_transform_v2(config, is_train=False)
    ours = ClipTransform.from_config(asdict(config))(list(images.values()), "cpu", torch.float32)
    worst, share = 0.0, 0.0
    for name, image, tensor in zip(images, images.values(), ours, strict=True):
        apart = levels_apart(tensor, theirs(Image.fromarray(image)), config)
        worst, share = max(worst, apart.max().item()), max(share, (apart > 0.5).float().mean().item())
        assert tensor.shape == (3, *ClipTransform.from_config(asdict(config)).size), name
    assert worst <= (1 if setting == "default" else 2) + 1e-3
    assert share < 0.005


def test_pass_order_follows_pillow_on_random_sizes() -> None:
    """Enlarging, shrinking and both at once, in either direction: each size is one pass order."""
    rng = np.random.default_rng(0)
    for _ in range(60):
        height, width, new_height, new_width = (int(n) for n in rng.integers(8, 160, 4))
        image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        config = PreprocessCfg(size=(new_height, new_width), resize_mode="squash", mean=(0, 0, 0), std=(1, 1, 1))
        ours = ClipTransform.from_config(asdict(config))([image], "cpu", torch.float32)[0]
        theirs = image_transform_v2(config, is_train=False)(Image.fromarray(image))
        apart = levels_apart(ours, theirs, config)
        assert apart.max() <= 2 + 1e-3 and (apart > 0.5).float().mean() < 0.02, (height, width, new_height, new_width)


def test_images_of_several_sizes_keep_their_order(images: dict[str, np.ndarray]) -> None:
    transform = ClipTransform.from_config(asdict(PreprocessCfg()))
    mixed = [images["multi_face.jpg"], images["portrait"], images["small"], images["portrait"]]
    together = transform(mixed, "cpu", torch.float32)
    for image, row in zip(mixed, together, strict=True):
        assert torch.equal(row, transform([image], "cpu", torch.float32)[0])
    assert transform(mixed, "cpu", torch.float16).dtype == torch.float16


@pytest.mark.parametrize(("setting", "value"), [("resize_mode", "longest"), ("interpolation", "random")])
def test_settings_without_a_torch_transform_are_refused(setting: str, value: str) -> None:
    with pytest.raises(ValueError, match=f"{setting} '{value}'.*preprocess: pil"):
        ClipTransform.from_config({**asdict(PreprocessCfg()), setting: value})


def min_cosine(pil: ClipEncoder, ours: ClipEncoder, images: list[np.ndarray]) -> float:
    """The least cosine between the embeddings of open_clip's PIL path and the torch path."""
    assert pil.transform is None and ours.transform is not None
    with torch.inference_mode():
        return float((pil.encode_images(images) * ours.encode_images(images)).sum(axis=1).min())


def test_tiny_clip_embeddings_agree(images: dict[str, np.ndarray], tmp_path: Path) -> None:
    folder = tmp_path / "tiny" / "clip"
    folder.mkdir(parents=True)
    build_tiny_clip(folder)
    ref = ModelRef(source="tiny:clip", licence="generated")
    options = (ClipLabelsOptions(half_precision=False, preprocess=preprocess) for preprocess in ("pil", "torch"))
    pil, ours = (load_clip(ref, tmp_path, "cpu", option) for option in options)
    assert min_cosine(pil, ours, list(images.values())) >= 0.999


def test_full_size_vit_b_32_embeddings_agree(images: dict[str, np.ndarray]) -> None:
    """open_clip's ViT-B-32 with random weights (nothing downloaded), on one image of each kind."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = open_clip.create_model("ViT-B-32")
    pil_transform = image_transform_v2(PreprocessCfg(**model.visual.preprocess_cfg), is_train=False)
    tokenizer = open_clip.get_tokenizer("ViT-B-32")
    pil = ClipEncoder(model, pil_transform, tokenizer, "cpu")
    ours = ClipEncoder(model, pil_transform, tokenizer, "cpu", ClipTransform.from_config(model.visual.preprocess_cfg))
    chosen = [images[name] for name in ("single_face.jpg", "multi_face.jpg", "single_face.mp4@0.0s", "face_noface.mov@0.0s", "portrait")]
    assert min_cosine(pil, ours, chosen) >= 0.999
