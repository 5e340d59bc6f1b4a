"""How the runner drives the experts: one small interface, so that the same experts can run
in this process or as Ray actors without changing them.

`submit` starts every expert on a chunk before any answer is awaited; `collect` waits for
all of them. An expert that raises does not stop the run: its windows become absent with
the error as the reason.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from modalities.base import Expert
from modalities.registry import build_expert
from pipeline.config import ExpertConfig
from pipeline.types import Chunk, ExpertOutput, ExpertStatus


def failed_outputs(chunk: Chunk, model_id: str, error: BaseException) -> list[ExpertOutput]:
    """Absent outputs for every window of a chunk an expert failed on."""
    reason = f"expert failed: {type(error).__name__}: {error}"
    return [ExpertOutput(window_index=w.index, probs=None, model_id=model_id, reason=reason) for w in chunk.windows]


def check_outputs(name: str, chunk: Chunk, outputs: list[ExpertOutput]) -> list[ExpertOutput]:
    """An expert must answer every window of the chunk, in order."""
    expected = [w.index for w in chunk.windows]
    got = [o.window_index for o in outputs]
    if got != expected:
        raise RuntimeError(f"expert {name} answered windows {got}, expected {expected}")
    return outputs


class ExpertExecutor(ABC):
    """Runs a set of experts over chunks and reports how long each took."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @property
    @abstractmethod
    def statuses(self) -> dict[str, ExpertStatus]: ...

    @abstractmethod
    def submit(self, chunk: Chunk) -> Any:
        """Start every expert on `chunk`; returns a handle for `collect`."""

    @abstractmethod
    def collect(self, handle: Any) -> dict[str, list[ExpertOutput]]:
        """Wait for every expert's outputs for the submitted chunk."""

    def run(self, chunk: Chunk) -> dict[str, list[ExpertOutput]]:
        return self.collect(self.submit(chunk))

    def close(self) -> None:
        """Release what the executor holds (processes, actors)."""


class InProcessExecutor(ExpertExecutor):
    """Builds every expert in this process and runs them one after another."""

    def __init__(self, experts: Mapping[str, ExpertConfig], cache_dir: Path) -> None:
        super().__init__()
        self.experts: dict[str, Expert] = {name: build_expert(name, cfg, cache_dir) for name, cfg in experts.items()}
        self.seconds = dict.fromkeys(self.experts, 0.0)

    @property
    def statuses(self) -> dict[str, ExpertStatus]:
        return {name: expert.status() for name, expert in self.experts.items()}

    def submit(self, chunk: Chunk) -> Chunk:
        return chunk  # in process there is nothing to start ahead: work happens in collect

    def collect(self, handle: Chunk) -> dict[str, list[ExpertOutput]]:
        answers = {}
        for name, expert in self.experts.items():
            started = time.perf_counter()
            try:
                answers[name] = check_outputs(name, handle, expert.predict(handle))
            except Exception as exc:  # noqa: BLE001 - one expert's failure must not end the run
                answers[name] = failed_outputs(handle, expert.model_id, exc)
            self.seconds[name] += time.perf_counter() - started
        return answers
