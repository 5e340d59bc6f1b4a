"""The contract every modality expert follows.

An expert is built from its `ExpertConfig` and the folder of cached models (a
`VocabularyExpert` also from the profile's compound vocabulary); construction loads the
models, importing the module loads nothing. It answers `predict(chunk)` with one
`ExpertOutput` per window of the chunk, in window order. Work shared by overlapping windows
is done once per chunk.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict

from cer.pipeline.config import ExpertConfig
from cer.pipeline.labels import BASIC
from cer.pipeline.types import Chunk, ExpertOutput, ExpertStatus


class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Expert(ABC):
    """Base class of the six experts."""

    # Set by each expert class; not a ClassVar only because UnavailableExpert sets it per instance.
    name: str
    Options: ClassVar[type[BaseModel]] = NoOptions
    # The validated `Options`. An expert with options re-declares it with its own Options class
    # (`options: AudioOptions`) so that its fields type-check: a ClassVar cannot be generic.
    options: BaseModel
    # Whether the expert reads the tracked face crops, so that its outputs depend on the face
    # config too (the expert-output cache keys on it).
    uses_faces: ClassVar[bool] = False

    def __init__(self, config: ExpertConfig, cache_dir: Path) -> None:
        self.config = config
        self.cache_dir = cache_dir
        self.options = self.Options.model_validate(config.options)

    @property
    @abstractmethod
    def model_id(self) -> str:
        """A short id of the model(s) behind this expert, shown in every output."""

    def status(self) -> ExpertStatus:
        return ExpertStatus(name=self.name, status="ok", model_id=self.model_id)

    @abstractmethod
    def predict(self, chunk: Chunk) -> list[ExpertOutput]:
        """One output per window of `chunk`, in window order."""

    def absent(self, window_index: int, reason: str, **evidence: object) -> ExpertOutput:
        return ExpertOutput(window_index=window_index, probs=None, model_id=self.model_id, reason=reason, evidence=dict(evidence))

    def present(self, window_index: int, probs: Sequence[float] | np.ndarray, **evidence: object) -> ExpertOutput:
        return ExpertOutput(window_index=window_index, probs=as_basic_probs(probs), model_id=self.model_id, evidence=dict(evidence))


class VocabularyExpert(Expert):
    """An expert that reads the profile's compound vocabulary (clip_labels scores its compounds,
    scene may ask for them by name). It is handed the vocabulary when it is built, and its
    cached outputs are keyed on it; the other experts never see it."""

    def __init__(self, config: ExpertConfig, cache_dir: Path, vocabulary: Mapping[str, tuple[str, str]]) -> None:
        super().__init__(config, cache_dir)
        self.vocabulary = dict(vocabulary)  # compound -> its two basic labels, in output order


class UnavailableExpert(Expert):
    """Stands in for an expert the profile has no weights for: every window is absent, with the reason."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name  # one class serves every unavailable expert
        self.reason = reason

    @property
    def model_id(self) -> str:
        return "none"

    def status(self) -> ExpertStatus:
        return ExpertStatus(name=self.name, status="unavailable", model_id="none", reason=self.reason)

    def predict(self, chunk: Chunk) -> list[ExpertOutput]:
        return [self.absent(w.index, self.reason) for w in chunk.windows]


def as_basic_probs(values: Sequence[float] | np.ndarray) -> list[float]:
    """Check and normalise an 8-class distribution in BASIC order."""
    probs = np.asarray(values, dtype=np.float64).reshape(-1)
    if probs.shape != (len(BASIC),):
        raise ValueError(f"expected {len(BASIC)} basic probabilities, got shape {probs.shape}")
    if not np.all(np.isfinite(probs)) or np.any(probs < 0) or probs.sum() <= 0:
        raise ValueError(f"invalid probabilities {probs.tolist()}")
    return (probs / probs.sum()).tolist()


def to_basic_order(model_probs: np.ndarray, index_map: Sequence[int]) -> np.ndarray:
    """Scatter a model's class probabilities (last axis) into BASIC order, adding classes that share a slot."""
    model_probs = np.asarray(model_probs, dtype=np.float64)
    out = np.zeros((*model_probs.shape[:-1], len(BASIC)))
    for model_index, basic_index in enumerate(index_map):
        out[..., basic_index] += model_probs[..., model_index]
    return out


def pick_device(requested: str) -> str:
    """`auto` means CUDA when a GPU is visible, else CPU."""
    if requested != "auto":
        return requested
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
