"""Test-only experts for fitting the fusion: one reads the label from the clip's colour (see
tests/corpora.py) and is moderately sure of it; the others are confident and random."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from cer.core.labels import BASIC
from cer.core.types import Chunk, ExpertOutput
from cer.modalities.base import Expert
from tests.corpora import label_of

EXPERTS = {
    "oracle": "tests.synthetic_experts:ColourOracle",
    "noise_a": "tests.synthetic_experts:NoiseA",
    "noise_b": "tests.synthetic_experts:NoiseB",
}
# The `experts:` line of a profile that runs exactly these three, each named by its class.
EXPERTS_YAML = "experts: {" + ", ".join(f"{name}: {{target: '{target}'}}" for name, target in EXPERTS.items()) + "}\n"


class ColourOracle(Expert):
    """Half its probability on the right class, the rest spread evenly."""

    name = "oracle"

    @property
    def model_id(self) -> str:
        return "colour-oracle"

    def predict(self, chunk: Chunk) -> list[ExpertOutput]:
        outputs = []
        for window in chunk.windows:
            probs = np.full(len(BASIC), 0.5 / (len(BASIC) - 1))
            probs[label_of(chunk.frames_in(window)[0].image)] = 0.5
            outputs.append(self.present(window.index, probs))
        return outputs


class Noise(Expert):
    """90 % on a class drawn at random for each window, seeded by its pixels: the same for the
    same content, as the expert-output cache assumes of every expert."""

    seed: ClassVar[int]

    @property
    def model_id(self) -> str:
        return f"noise-{self.seed}"

    def predict(self, chunk: Chunk) -> list[ExpertOutput]:
        outputs = []
        for window in chunk.windows:
            rng = np.random.default_rng([self.seed, int(chunk.frames_in(window)[0].image.sum()), window.index])
            probs = np.full(len(BASIC), 0.1 / (len(BASIC) - 1))
            probs[rng.integers(len(BASIC) - 1)] = 0.9
            outputs.append(self.present(window.index, probs))
        return outputs


class NoiseA(Noise):
    name = "noise_a"
    seed = 1


class NoiseB(Noise):
    name = "noise_b"
    seed = 2
