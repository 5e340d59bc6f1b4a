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
from typing import Any

from cer.modalities.factory import build_expert
from cer.pipeline.config import ExpertConfig, ExpertContext
from cer.pipeline.progress import loading_experts
from cer.pipeline.types import Chunk, ExpertOutput, ExpertStatus

_FAILED = "expert failed: "  # starts the reason of every output `failed_outputs` makes


def failed_outputs(chunk: Chunk, model_id: str, error: BaseException) -> list[ExpertOutput]:
    """Absent outputs for every window of a chunk an expert failed on."""
    reason = f"{_FAILED}{type(error).__name__}: {error}"
    return [ExpertOutput(window_index=w.index, probs=None, model_id=model_id, reason=reason) for w in chunk.windows]


def is_failure(output: ExpertOutput) -> bool:
    """Whether `output` stands for an error rather than an answer (the cache keeps no failures:
    the next run tries again)."""
    return output.reason is not None and output.reason.startswith(_FAILED)


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
        # Windows answered from the expert-output cache, per expert, when the executor has a
        # cache in front of it (absent otherwise): result.json says why an expert took no time.
        self.from_cache: dict[str, int] = {}

    @property
    @abstractmethod
    def statuses(self) -> dict[str, ExpertStatus]: ...

    @abstractmethod
    def submit(self, chunk: Chunk) -> Any:
        """Start every expert on `chunk`; returns a handle for `collect`."""

    @abstractmethod
    def collect(self, handle: Any) -> dict[str, list[ExpertOutput]]:
        """Wait for every expert's outputs for the submitted chunk."""

    def close(self) -> None:  # noqa: B027 - optional: most executors hold nothing to release
        """Release what the executor holds (processes, actors)."""


class ServedExpert:
    """One built expert answering chunks. The in-process executor holds one per expert; each
    Ray actor holds one in its own process, so that the model loads once there."""

    def __init__(self, name: str, config: ExpertConfig, context: ExpertContext) -> None:
        self.name = name
        self.expert = build_expert(name, config, context)

    def status(self) -> ExpertStatus:
        return self.expert.status()

    def predict(self, chunk: Chunk) -> tuple[list[ExpertOutput], float]:
        """The outputs for `chunk` (absent, with the error, if the expert raises) and the seconds taken."""
        started = time.perf_counter()
        try:
            outputs = check_outputs(self.name, chunk, self.expert.predict(chunk))
        except Exception as exc:  # noqa: BLE001 - one expert's failure must not end the run
            outputs = failed_outputs(chunk, self.expert.model_id, exc)
        return outputs, time.perf_counter() - started


class InProcessExecutor(ExpertExecutor):
    """Builds every expert in this process and runs them one after another."""

    def __init__(self, experts: Mapping[str, ExpertConfig], context: ExpertContext) -> None:
        super().__init__()
        self.experts: dict[str, ServedExpert] = {}
        with loading_experts(len(experts)) as bar:
            for name, cfg in experts.items():
                self.experts[name] = ServedExpert(name, cfg, context)
                bar.set_postfix_str(f"{name} ready", refresh=False)
                bar.update()
        self.seconds = dict.fromkeys(self.experts, 0.0)

    @property
    def statuses(self) -> dict[str, ExpertStatus]:
        return {name: expert.status() for name, expert in self.experts.items()}

    def submit(self, chunk: Chunk) -> Chunk:
        return chunk  # in process there is nothing to start ahead: work happens in collect

    def collect(self, handle: Chunk) -> dict[str, list[ExpertOutput]]:
        answers = {}
        for name, expert in self.experts.items():
            answers[name], seconds = expert.predict(handle)
            self.seconds[name] += seconds
        return answers
