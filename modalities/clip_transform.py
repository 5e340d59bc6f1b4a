"""open_clip's inference preprocessing of images, done in torch on the device the model runs on.

open_clip prepares an image for its image tower with torchvision transforms on a PIL image
(open_clip.transform.image_transform, `is_train=False`): Resize, CenterCrop, ToTensor (/255)
and Normalize. Done on the CPU frame by frame, that is nearly the whole cost of the CLIP expert
on a GPU (on an H200: 166 frames/s end to end against 4,290 frames/s for the forward pass
alone). `ClipTransform` takes the frames as uint8 tensors to the device and does the same steps
there, following open_clip's choices for the configured model:

- Sizes as torchvision computes them. `resize_mode: shortest` with a square input takes the
  shortest side to the input size and the other to int(size * long / short); with an oblong
  input it scales by the smaller side ratio, rounding both sides (open_clip's ResizeKeepRatio,
  always bicubic). `squash` resizes to the input size. CenterCrop's offsets are
  int(round((side - crop) / 2)).
- Pillow resamples an 8-bit image in two passes, one per axis, with antialiasing (the kernel
  widened by the downscale factor; bicubic with a = -0.5), rounding each pass half up to 8-bit
  levels. torch's antialiased bicubic and bilinear kernels are Pillow's; run as the same two
  passes in the same order (`pillow_passes`), rounded the same way, they differ from Pillow
  only where its fixed-point weights round a value the other way: on the shared test media,
  by one 8-bit level at most for the default square bicubic input, two for other settings,
  on under 0.5% of values (tests/test_clip_transform.py). Resampling runs in float32
  whatever the model's precision.

Other open_clip settings (`resize_mode: longest`, which pads) are refused: set the expert's
`preprocess: pil` to use open_clip's own transform for such a model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.nn import functional

INTERPOLATIONS = ("bicubic", "bilinear")
RESIZE_MODES = ("shortest", "squash")


@dataclass(frozen=True)
class ClipTransform:
    """open_clip's inference transform of RGB uint8 images, in torch."""

    size: tuple[int, int]  # (height, width) the image tower reads
    mean: tuple[float, ...]  # per channel, of pixels scaled to [0, 1]
    std: tuple[float, ...]
    interpolation: str  # one of INTERPOLATIONS
    resize_mode: str  # one of RESIZE_MODES

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ClipTransform:
        """From an open_clip model's `model.visual.preprocess_cfg` (a PreprocessCfg as a dict)."""
        interpolation, resize_mode = config["interpolation"], config["resize_mode"]
        for setting, value, supported in (("interpolation", interpolation, INTERPOLATIONS), ("resize_mode", resize_mode, RESIZE_MODES)):
            if value not in supported:
                raise ValueError(f"CLIP {setting} {value!r} has no torch transform (only {', '.join(supported)}); set preprocess: pil")
        height, width = pair(config["size"])
        if resize_mode == "shortest" and height != width:
            interpolation = "bicubic"  # open_clip's ResizeKeepRatio for an oblong input ignores the configured one
        return cls((height, width), triple(config["mean"]), triple(config["std"]), interpolation, resize_mode)

    def __call__(self, images: Sequence[np.ndarray], device: str | torch.device, dtype: torch.dtype) -> torch.Tensor:
        """[n, 3, height, width] model input on `device` as `dtype`, from RGB uint8 images [h, w, 3].

        The images may differ in size (frames of several videos): each size is a batch of its own.
        """
        batch = torch.empty((len(images), 3, *self.size), device=device, dtype=dtype)
        for positions in positions_by_shape(images):
            pixels = torch.from_numpy(np.stack([images[i] for i in positions])).to(device)  # uint8 on the way: 1/4 of float32
            batch[torch.tensor(positions, device=device)] = self.normalised(pixels).to(dtype)
        return batch

    def normalised(self, images: torch.Tensor) -> torch.Tensor:
        """[n, 3, height, width] float32 from [n, h, w, 3] uint8 images of one size."""
        pixels = images.permute(0, 3, 1, 2).float()
        height, width = pixels.shape[-2:]
        new_height, new_width = self.resized_shape(height, width)
        for pass_height, pass_width in pillow_passes(height, width, new_height, new_width):
            pixels = self.resampled(pixels, pass_height, pass_width)
        pixels = center_crop(pixels, self.size)
        mean = torch.tensor(self.mean, device=pixels.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=pixels.device).view(1, 3, 1, 1)
        return (pixels / 255 - mean) / std

    def resized_shape(self, height: int, width: int) -> tuple[int, int]:
        """The (height, width) open_clip's Resize gives an image before the crop."""
        if self.resize_mode == "squash":
            return self.size
        target_height, target_width = self.size
        if target_height == target_width:  # torchvision's Resize(int): the other side truncated
            other = int(target_height * max(height, width) / min(height, width))
            return (other, target_height) if height > width else (target_height, other)
        ratio = min(height / target_height, width / target_width)  # open_clip's ResizeKeepRatio: both rounded
        return round(height / ratio), round(width / ratio)

    def resampled(self, pixels: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """One of Pillow's passes: antialiased resampling to (height, width), rounded to 8-bit levels."""
        if tuple(pixels.shape[-2:]) == (height, width):
            return pixels  # Pillow skips a pass that changes nothing
        resized = functional.interpolate(pixels, size=(height, width), mode=self.interpolation, antialias=True, align_corners=False)
        return resized.add_(0.5).floor_().clamp_(0, 255)


def pillow_passes(height: int, width: int, new_height: int, new_width: int) -> list[tuple[int, int]]:
    """The (height, width) after each of Pillow's two resampling passes. Pillow (13.0 here)
    resamples vertically first when that shrinks the height by more than twice what the width
    loses, else horizontally first: found by comparing both orders with its output on 1,350
    random sizes, bicubic and bilinear, without an exception (tests/test_clip_transform.py
    keeps checking it)."""
    if new_height < height and height - new_height > 2 * (width - new_width):
        return [(new_height, width), (new_height, new_width)]
    return [(height, new_width), (new_height, new_width)]


def positions_by_shape(images: Sequence[np.ndarray]) -> list[list[int]]:
    """The positions of the images, grouped by shape, in order of first appearance."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for position, image in enumerate(images):
        groups.setdefault(image.shape, []).append(position)
    return list(groups.values())


def center_crop(pixels: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """torchvision's CenterCrop of an image at least `size` on both sides."""
    height, width = pixels.shape[-2:]
    top, left = round((height - size[0]) / 2.0), round((width - size[1]) / 2.0)
    return pixels[..., top : top + size[0], left : left + size[1]]


def pair(size: int | Sequence[int]) -> tuple[int, int]:
    """(height, width) of a size given as one number or two, as open_clip gives it."""
    if isinstance(size, int):
        return size, size
    height, width = size
    return int(height), int(width)


def triple(value: float | Sequence[float]) -> tuple[float, ...]:
    """A per-channel statistic given as one number (every channel) or three."""
    return (float(value),) * 3 if isinstance(value, (int, float)) else tuple(float(v) for v in value)
