"""Cutting a face out of a frame: each face model wants its own crop around the detector's box
(`CropSpec`), as its training faces were cut."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cer.core.types import FaceBox


@dataclass(frozen=True)
class CropSpec:
    """How one face model wants its face cut out of a frame around the detector's box."""

    square: bool  # widen the shorter side of the box to the longer one, about the box centre
    margin: float = 0.0  # fraction of the (squared) box side added on every side
    fill: tuple[int, int, int] = (0, 0, 0)  # RGB of the crop's pixels that lie beyond the image
    # The 2025 code's rule instead of the two above: each corner coordinate moved out by this
    # fraction of itself (left and top times 1 - f, right and bottom times 1 + f), the crop then
    # clipped to the image (never filled)
    corner_widening: float = 0.0


def crop_rect(box: FaceBox, spec: CropSpec) -> tuple[int, int, int, int]:
    """The crop's (left, top, right, bottom) in whole pixels; it may reach beyond the image
    (except with `corner_widening`, which `crop_face` clips)."""
    if spec.corner_widening:
        grow = spec.corner_widening
        left, top = int(box.x0 * (1 - grow)), int(box.y0 * (1 - grow))
        return left, top, max(left + 1, int(box.x1 * (1 + grow))), max(top + 1, int(box.y1 * (1 + grow)))
    width, height = max(box.x1 - box.x0, 1.0), max(box.y1 - box.y0, 1.0)
    if spec.square:
        width = height = max(width, height)
    width, height = width * (1 + 2 * spec.margin), height * (1 + 2 * spec.margin)
    left, top = round((box.x0 + box.x1 - width) / 2), round((box.y0 + box.y1 - height) / 2)
    return left, top, left + max(1, round(width)), top + max(1, round(height))


def crop_face(image: np.ndarray, box: FaceBox, spec: CropSpec) -> np.ndarray:
    """The RGB crop of `box` cut as `spec` says, with `spec.fill` where it reaches beyond the image.

    Padded, never shifted or cut at the border: a face that touches the image border stays
    centred and at its size in the crop, as it would be in a larger picture with that fill
    around it.
    """
    left, top, right, bottom = crop_rect(box, spec)
    if spec.corner_widening:  # clipped to the image, as the 2025 code slices the frame
        height, width = image.shape[:2]
        left, top, right, bottom = max(left, 0), max(top, 0), min(right, width), min(bottom, height)
        return image[top : max(bottom, top + 1), left : max(right, left + 1)].copy()
    crop = np.empty((bottom - top, right - left, image.shape[2]), dtype=image.dtype)
    crop[...] = spec.fill
    height, width = image.shape[:2]
    x0, y0, x1, y1 = max(left, 0), max(top, 0), min(right, width), min(bottom, height)
    if x0 < x1 and y0 < y1:
        crop[y0 - top : y1 - top, x0 - left : x1 - left] = image[y0:y1, x0:x1]
    return crop
