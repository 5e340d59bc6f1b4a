"""The contract every modality expert follows.

An expert is built from its `ExpertConfig` and the folder of cached models (a
`VocabularyExpert` also from the profile's compound vocabulary); construction loads the
models, importing the module loads nothing. It answers `predict(chunk)` with one
`ExpertOutput` per window of the chunk, in window order. Work shared by overlapping windows
is done once per chunk.

The six experts are `StagedExpert`s, in three stages as Hugging Face pipelines are:
`preprocess(chunk)` on the CPU (crops, frame choice, voice activity, pitch) gives the items
the models read and a plan; `forward(items)` runs the models on the expert's device, one
batch at a time; `postprocess(plan, results)` turns the results into the window outputs. The
executors use the stages to batch the items of several chunks (and, on Ray, of several
videos) into one forward pass, and to preprocess where the chunk is rather than in the
process that holds the GPU (cer.pipeline.batching).
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict

from cer.core.config import ExpertConfig
from cer.core.devices import resolve_device
from cer.core.labels import BASIC, PAIRS
from cer.core.sources import resolve_model
from cer.core.types import Chunk, ExpertOutput, ExpertStatus


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
    # What `cer expert NAME FILE` can give it besides a video: "image", "audio", "text".
    reads: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: ExpertConfig, cache_dir: Path) -> None:
        self.config = config
        self.cache_dir = cache_dir
        # validated once, by `load_profile`; a config built by hand is validated here
        options = config.options
        self.options = options if isinstance(options, self.Options) else self.Options.model_validate(options)

    @property
    @abstractmethod
    def model_id(self) -> str:
        """A short id of the model(s) behind this expert, shown in every output."""

    def status(self) -> ExpertStatus:
        return ExpertStatus(name=self.name, status="ok", model_id=self.model_id)

    def model_path(self, role: str) -> Path:
        """The local copy of the model for `role`, fetched on first use where the profile allows
        it (cer.core.sources: pinned revisions, checked hashes)."""
        if role not in self.config.models:
            raise ValueError(f"experts.{self.name}.models.{role} is not set; the expert needs it")
        return resolve_model(self.config.models[role], self.cache_dir)

    @abstractmethod
    def predict(self, chunk: Chunk) -> list[ExpertOutput]:
        """One output per window of `chunk`, in window order."""

    def absent(self, window_index: int, reason: str, **evidence: object) -> ExpertOutput:
        return ExpertOutput(window_index=window_index, probs=None, model_id=self.model_id, reason=reason, evidence=dict(evidence))

    def present(self, window_index: int, probs: Sequence[float] | np.ndarray, **evidence: object) -> ExpertOutput:
        return ExpertOutput(window_index=window_index, probs=as_basic_probs(probs), model_id=self.model_id, evidence=dict(evidence))


@dataclass
class Prepared:
    """What `preprocess` made of one chunk."""

    items: list[Any]  # what the models read, one `forward` result each (crops, frames, clips, speech)
    plan: Any  # what `postprocess` needs besides the results: window indices, evidence, counts
    windows: tuple[int, ...] = ()  # the chunk's window indices (set by `prepare`), to answer for them when `forward` fails


class StagedExpert(Expert):
    """An expert in three stages: `preprocess` (CPU, no model of the device), `forward` (the
    device models, batched, under `torch.inference_mode`) and `postprocess`.

    Construction validates the config and calls `setup` (what preprocessing needs: option
    checks, a small CPU model such as the voice-activity detector), then `load` (the device
    models) unless `load_models` is False: a copy built that way preprocesses chunks where
    they are while a process that holds the GPU runs `forward` (cer.pipeline.batching).
    """

    # The model roles the expert cannot work without (`experts.NAME.models.ROLE`)
    roles: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: ExpertConfig, cache_dir: Path, *, load_models: bool = True) -> None:
        super().__init__(config, cache_dir)
        missing = [role for role in self.roles if role not in config.models]
        if missing:
            raise ValueError(f"experts.{self.name}.models needs {', '.join(missing)}; the expert cannot work without")
        self.device = resolve_device(config.device)
        self.forward_calls = 0  # `forward` calls so far, and the items they read: the mean batch size
        self.items_forwarded = 0
        self.setup()
        if load_models:
            self.load()

    def status(self) -> ExpertStatus:
        return dataclasses.replace(super().status(), device=self.device)

    @property
    def batch_size(self) -> int:
        """Items per `forward` call: the `batch_size` option."""
        size: int = getattr(self.options, "batch_size")  # noqa: B009 - every staged expert's options declare it
        return size

    def setup(self) -> None:  # optional: most experts need nothing to preprocess
        """Check the config and prepare what `preprocess` uses; loads no device model."""

    @abstractmethod
    def load(self) -> None:
        """Load the models `forward` runs, on `self.device`."""

    @abstractmethod
    def preprocess(self, chunk: Chunk) -> Prepared:
        """The chunk's items for the models (each shared by overlapping windows only once) and the plan."""

    def prepare(self, chunk: Chunk) -> Prepared:
        """`preprocess`, the parcel labelled with the chunk's windows (what the executors send)."""
        return dataclasses.replace(self.preprocess(chunk), windows=tuple(chunk.window_indices))

    @abstractmethod
    def forward(self, items: Sequence[Any]) -> list[Any]:
        """One result per item, for at most `batch_size` items."""

    @abstractmethod
    def postprocess(self, plan: Any, results: list[Any]) -> list[ExpertOutput]:
        """One output per window of the chunk the plan was made from, in window order."""

    def run_items(self, items: Sequence[Any]) -> list[Any]:
        """`forward` over any number of items, `batch_size` at a time."""
        import torch

        results: list[Any] = []
        with torch.inference_mode():
            for first in range(0, len(items), self.batch_size):
                results += self.forward(items[first : first + self.batch_size])
                self.forward_calls += 1
        self.items_forwarded += len(items)
        if len(results) != len(items):
            raise RuntimeError(f"expert {self.name} gave {len(results)} results for {len(items)} items")
        return results

    def answer(self, parcels: Sequence[Prepared]) -> list[list[ExpertOutput]]:
        """The outputs of several preprocessed chunks, their items run together in full batches."""
        results = self.run_items([item for parcel in parcels for item in parcel.items])
        outputs, used = [], 0
        for parcel in parcels:
            outputs.append(self.postprocess(parcel.plan, results[used : used + len(parcel.items)]))
            used += len(parcel.items)
        return outputs

    def predict(self, chunk: Chunk) -> list[ExpertOutput]:
        return self.answer([self.preprocess(chunk)])[0]


class VocabularyExpert(StagedExpert):
    """An expert that reads the profile's compound vocabulary (clip_labels scores its compounds,
    scene may ask for them by name). It is handed the vocabulary when it is built, and its
    cached outputs are keyed on it; the other experts never see it."""

    def __init__(
        self, config: ExpertConfig, cache_dir: Path, vocabulary: Mapping[str, tuple[str, str]] = PAIRS, *, load_models: bool = True
    ) -> None:
        self.vocabulary = dict(vocabulary)  # compound -> its two basic labels, in output order
        super().__init__(config, cache_dir, load_models=load_models)


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
