"""How the runner drives the experts: one small interface, so that the same experts can run
in this process or as Ray actors without changing them.

`submit` starts every expert on a chunk before any answer is awaited; `collect` waits for
all of them. An expert that raises does not stop the run: its windows become absent with
the error as the reason. An engine that fails under the experts does (`EngineFault`).
"""

from __future__ import annotations

import os
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from cer.core.config import ExpertConfig, ExpertContext
from cer.core.progress import loading_experts
from cer.core.types import Chunk, ExpertOutput, ExpertStatus
from cer.modalities.base import Prepared, StagedExpert
from cer.modalities.factory import build_expert

T = TypeVar("T")
_FAILED = "expert failed: "  # starts the reason of every output `failed_outputs` makes


def failed_outputs(windows: Sequence[int], model_id: str, error: BaseException) -> list[ExpertOutput]:
    """Absent outputs for the windows (by index) of a chunk an expert failed on."""
    reason = f"{_FAILED}{type(error).__name__}: {error}"
    return [ExpertOutput(window_index=index, probs=None, model_id=model_id, reason=reason) for index in windows]


def is_failure(output: ExpertOutput) -> bool:
    """Whether `output` stands for an error rather than an answer (the cache keeps no failures:
    the next run tries again)."""
    return output.reason is not None and output.reason.startswith(_FAILED)


def check_outputs(name: str, windows: Sequence[int], outputs: list[ExpertOutput]) -> list[ExpertOutput]:
    """An expert must answer every window of the chunk, in order."""
    expected = list(windows)
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
        """Start every expert on `chunk` (those it names, for a person's view); returns a handle for `collect`."""

    @abstractmethod
    def collect(self, handle: Any) -> dict[str, list[ExpertOutput]]:
        """Wait for the outputs of the experts the submitted chunk went to (handles in submission order)."""

    def batch_counts(self) -> dict[str, tuple[int, int]]:
        """Per expert: (forward calls, items they read) so far, for the mean batch size; empty
        where the executor cannot tell."""
        return {}

    def close(self) -> None:  # noqa: B027 - optional: most executors hold nothing to release
        """Release what the executor holds (processes, actors)."""


RunParcels = Callable[[Sequence[Prepared]], list[list[ExpertOutput]]]  # preprocessed chunks -> their outputs


class ServedExpert:
    """One built expert answering chunks. The in-process executor holds one per expert; each
    Ray actor holds one in its own process, so that the model loads once there.

    A staged expert is asked in two steps, so that an executor can run the items of several
    chunks together: `prepare` a chunk (wherever the chunk is), then `answer` the parcels.
    Every step answers instead of raising: an expert that fails gives absent outputs with the
    error for the chunks it failed on, and the run goes on.
    """

    def __init__(self, name: str, config: ExpertConfig, context: ExpertContext) -> None:
        self.name = name
        self.expert = build_expert(name, config, context)

    @property
    def staged(self) -> StagedExpert | None:
        return self.expert if isinstance(self.expert, StagedExpert) else None

    def status(self) -> ExpertStatus:
        return self.expert.status()

    def batch_counts(self) -> tuple[int, int]:
        """(forward calls, items they read) so far; (0, 0) for an expert that is not staged."""
        staged = self.staged
        return (staged.forward_calls, staged.items_forwarded) if staged else (0, 0)

    def predict(self, chunk: Chunk) -> tuple[list[ExpertOutput], float]:
        """The outputs for `chunk` (absent, with the error, if the expert raises) and the seconds taken."""
        started = time.perf_counter()
        windows = chunk.window_indices
        try:
            outputs = check_outputs(self.name, windows, self.expert.predict(chunk))
        except Exception as exc:  # noqa: BLE001 - one expert's failure must not end the run
            outputs = failed_outputs(windows, self.expert.model_id, exc)
        return outputs, time.perf_counter() - started

    def answer(self, parcels: Sequence[Prepared], run: RunParcels | None = None) -> tuple[list[list[ExpertOutput]], float]:
        """The outputs of preprocessed chunks, their items run together (by `run`, the staged
        expert's own `answer` unless a batcher is given), and the seconds taken."""
        staged = self.staged
        assert staged is not None, f"expert {self.name} is not staged"
        started = time.perf_counter()
        try:
            answered = (run or staged.answer)(parcels)
            outputs = [check_outputs(self.name, p.windows, o) for p, o in zip(parcels, answered, strict=True)]
        except Exception as exc:  # noqa: BLE001 - one expert's failure must not end the run
            outputs = [failed_outputs(p.windows, self.expert.model_id, exc) for p in parcels]
        return outputs, time.perf_counter() - started


def prepare_chunk(preprocessor: StagedExpert, chunk: Chunk) -> tuple[Prepared | list[ExpertOutput], float]:
    """`preprocessor.prepare(chunk)`, or the absent outputs of a chunk it could not preprocess;
    and the seconds taken."""
    started = time.perf_counter()
    try:
        prepared: Prepared | list[ExpertOutput] = preprocessor.prepare(chunk)
    except Exception as exc:  # noqa: BLE001 - one expert's failure must not end the run
        prepared = failed_outputs(chunk.window_indices, preprocessor.model_id, exc)
    return prepared, time.perf_counter() - started


@dataclass
class _Pending:
    """A chunk submitted in process: its parcel for each staged expert until answered."""

    chunk: Chunk
    parcels: dict[str, Prepared] = field(default_factory=dict)
    answers: dict[str, list[ExpertOutput]] = field(default_factory=dict)


class InProcessExecutor(ExpertExecutor):
    """Builds every expert in this process and runs them on a few threads.

    A chunk is preprocessed when submitted; when the oldest chunk is collected, each staged
    expert runs the items of every chunk submitted so far in one stream of full batches, so
    the runner's chunks in flight share forward passes here too. The experts work at once, on
    `threads` threads (one per CPU core when 0; one after another when 1): each expert is
    only ever on one thread at a time, so none needs to be thread-safe.
    """

    def __init__(self, experts: Mapping[str, ExpertConfig], context: ExpertContext, threads: int = 0) -> None:
        super().__init__()
        self.experts: dict[str, ServedExpert] = {}
        with loading_experts(len(experts)) as bar:
            for name, cfg in experts.items():
                self.experts[name] = ServedExpert(name, cfg, context)
                bar.set_postfix_str(f"{name} ready", refresh=False)
                bar.update()
        self.seconds = dict.fromkeys(self.experts, 0.0)
        self._pending: list[_Pending] = []
        workers = min(threads or os.cpu_count() or 1, len(self.experts))
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="cer-expert") if workers > 1 else None

    @property
    def statuses(self) -> dict[str, ExpertStatus]:
        return {name: expert.status() for name, expert in self.experts.items()}

    def batch_counts(self) -> dict[str, tuple[int, int]]:
        return {name: expert.batch_counts() for name, expert in self.experts.items()}

    def submit(self, chunk: Chunk) -> _Pending:
        pending = _Pending(chunk)
        staged = {name: served.staged for name, served in self._wanted(chunk) if served.staged is not None}
        prepared = self._each({name: partial(prepare_chunk, expert, chunk) for name, expert in staged.items()})
        for name, (parcel, seconds) in prepared.items():
            self.seconds[name] += seconds
            if isinstance(parcel, Prepared):
                pending.parcels[name] = parcel
            else:
                pending.answers[name] = parcel
        self._pending.append(pending)
        return pending

    def collect(self, handle: _Pending) -> dict[str, list[ExpertOutput]]:
        work: dict[str, Callable[[], tuple[list[list[ExpertOutput]], float]]] = {}
        waiting: dict[str, list[_Pending]] = {}
        for name, served in self._wanted(handle.chunk):
            if name in handle.answers:
                continue
            if served.staged is None:
                work[name] = partial(self._predict, served, handle.chunk)
                waiting[name] = [handle]
            else:
                # this chunk and those submitted after it that went to this expert
                waiting[name] = [p for p in self._pending if name in p.parcels]
                work[name] = partial(served.answer, [p.parcels[name] for p in waiting[name]])
        for name, (outputs, seconds) in self._each(work).items():
            for pending, chunk_outputs in zip(waiting[name], outputs, strict=True):
                pending.answers[name] = chunk_outputs
                pending.parcels.pop(name, None)  # its items are spent
            self.seconds[name] += seconds
        self._pending.remove(handle)
        return {name: handle.answers[name] for name, _ in self._wanted(handle.chunk)}

    @staticmethod
    def _predict(served: ServedExpert, chunk: Chunk) -> tuple[list[list[ExpertOutput]], float]:
        outputs, seconds = served.predict(chunk)
        return [outputs], seconds

    def _each(self, work: Mapping[str, Callable[[], T]]) -> dict[str, T]:
        """Each expert's piece of work done, on the pool's threads when there is one (the
        pieces never raise: every step of a `ServedExpert` answers instead)."""
        if self._pool is None or len(work) < 2:
            return {name: job() for name, job in work.items()}
        futures = {name: self._pool.submit(job) for name, job in work.items()}
        return {name: future.result() for name, future in futures.items()}

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def _wanted(self, chunk: Chunk) -> list[tuple[str, ServedExpert]]:
        return [(name, served) for name, served in self.experts.items() if chunk.wants(name)]
