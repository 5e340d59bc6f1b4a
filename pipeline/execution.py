"""How the runner drives the experts: one small interface, so that the same experts can run
in this process or as Ray actors without changing them.

`submit` starts every expert on a chunk before any answer is awaited; `collect` waits for
all of them. An expert that raises does not stop the run: its windows become absent with
the error as the reason. An engine that fails under the experts does (`EngineFault`).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from cer.core.config import ExpertConfig, ExpertContext
from cer.core.progress import loading_experts
from cer.core.types import Chunk, ExpertOutput, ExpertStatus
from cer.modalities.base import Prepared, StagedExpert
from cer.modalities.factory import build_expert
from cer.pipeline.core_shares import IntraOpThreads, background_priority

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
    """A chunk submitted in process: per expert, its preprocessing and then its answer, each a
    future of that expert's own thread."""

    chunk: Chunk
    prepared: dict[str, Future[tuple[Prepared | list[ExpertOutput], float]]] = field(default_factory=dict)
    answered: dict[str, Future[None]] = field(default_factory=dict)
    answers: dict[str, list[ExpertOutput]] = field(default_factory=dict)


class InProcessExecutor(ExpertExecutor):
    """Builds every expert in this process and runs each on a thread of its own.

    An expert's thread works through what is asked of it in order: it preprocesses each chunk
    as it is submitted, and when the oldest chunk is collected it runs the items of every chunk
    it has preprocessed so far in one stream of full batches, so the runner's chunks in flight
    share forward passes. The experts work at once, like Ray's actors without the processes:
    their models run outside Python's lock, so they share the cores with decoding (the slowest
    expert, speech recognition, need not wait for the others to finish a chunk). Each expert
    is only ever on its own thread, so none needs to be thread-safe. The cores are shared out
    as `cer.pipeline.core_shares` says: the `lead` experts' threads first. With `concurrent`
    False they run one after another in the caller's thread.
    """

    def __init__(
        self, experts: Mapping[str, ExpertConfig], context: ExpertContext, concurrent: bool = True, lead: Collection[str] = ()
    ) -> None:
        super().__init__()
        self.experts: dict[str, ServedExpert] = {}
        with loading_experts(len(experts)) as bar:
            for name, cfg in experts.items():
                self.experts[name] = ServedExpert(name, cfg, context)
                bar.set_postfix_str(f"{name} ready", refresh=False)
                bar.update()
        self.seconds = dict.fromkeys(self.experts, 0.0)
        self._pending: list[_Pending] = []
        self._threads = {name: _thread_of(name, concurrent, background=name not in lead) for name in self.experts}
        self._intra_op = IntraOpThreads(len(self.experts) if concurrent else 1)

    @property
    def statuses(self) -> dict[str, ExpertStatus]:
        return {name: expert.status() for name, expert in self.experts.items()}

    def batch_counts(self) -> dict[str, tuple[int, int]]:
        return {name: expert.batch_counts() for name, expert in self.experts.items()}

    def submit(self, chunk: Chunk) -> _Pending:
        pending = _Pending(chunk)
        for name, served in self._wanted(chunk):
            if (staged := served.staged) is not None:
                pending.prepared[name] = self._threads[name].submit(prepare_chunk, staged, chunk)
        self._pending.append(pending)
        return pending

    def collect(self, handle: _Pending) -> dict[str, list[ExpertOutput]]:
        for name, served in self._wanted(handle.chunk):
            if name not in handle.answered:
                # this chunk and those submitted after it that went to this expert, answered together
                # (an expert that is not staged prepares nothing: it answers this chunk alone)
                waiting = [p for p in self._pending if name in p.prepared and name not in p.answered] or [handle]
                job = self._threads[name].submit(self._answer, served, name, waiting)
                for pending in waiting:
                    pending.answered[name] = job
        for name, _ in self._wanted(handle.chunk):
            handle.answered[name].result()
        self._pending.remove(handle)
        return {name: handle.answers[name] for name, _ in self._wanted(handle.chunk)}

    def _answer(self, served: ServedExpert, name: str, chunks: list[_Pending]) -> None:
        """On the expert's thread: answer `chunks` (preprocessed earlier on this same thread),
        setting their answers, and count the seconds it took, preprocessing included (only
        this thread writes its expert's count)."""
        if served.staged is None:
            [pending] = chunks
            pending.answers[name], seconds = served.predict(pending.chunk)
            self.seconds[name] += seconds
            return
        seconds, parcels = 0.0, []
        for pending in chunks:
            parcel, taken = pending.prepared[name].result()
            seconds += taken
            if isinstance(parcel, Prepared):
                parcels.append((pending, parcel))
            else:
                pending.answers[name] = parcel  # preprocessing failed: the absent outputs it made
        if parcels:
            outputs, answer_s = served.answer([parcel for _, parcel in parcels])
            for (pending, _), chunk_outputs in zip(parcels, outputs, strict=True):
                pending.answers[name] = chunk_outputs
            seconds += answer_s
        self.seconds[name] += seconds

    def close(self) -> None:
        for thread in self._threads.values():
            thread.shutdown(wait=True)
        self._intra_op.restore()

    def _wanted(self, chunk: Chunk) -> list[tuple[str, ServedExpert]]:
        return [(name, served) for name, served in self.experts.items() if chunk.wants(name)]


class _CallerThread(Executor):
    """Runs each job at once in the caller's thread: the experts one after another."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()
        future.set_result(fn(*args, **kwargs))  # the jobs never raise: every step of a ServedExpert answers instead
        return future


def _thread_of(name: str, concurrent: bool, background: bool) -> Executor:
    if not concurrent:
        return _CallerThread()
    return ThreadPoolExecutor(1, thread_name_prefix=f"cer-{name}", initializer=background_priority if background else None)
