"""A live source through a Pipeline, window by window, as the stream goes (`cer live`).

A thread of its own reads the stream as it arrives, finds the faces and queues each window as
soon as the stream has reached its end; it never waits for the experts, so a camera or a
connection is read at its own pace. The caller's thread asks the experts for each window
through the pipeline's executor (a chunk of one window, so that no verdict waits for a later
window) and fuses their answers with the pipeline's own window record; an expert that would
push a verdict past `live.max_latency_s` is skipped for that window (cer.pipeline.live_budget).

A window's latency runs from the moment its last media had arrived and been decoded to its
verdict. The experts start before the stream is read, so that their start-up delays no window.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from cer.core.chunks import ChunkWork
from cer.core.face_presence import Sighting
from cer.core.live_chunks import LiveChunker
from cer.core.live_media import LiveSource, decode_live
from cer.core.media import MediaError
from cer.core.result import Result, Timings, WindowResult
from cer.pipeline.live_budget import LatencyBudget, skipped_outputs
from cer.pipeline.person_log import PersonLog
from cer.pipeline.runner import Pipeline

INTERRUPT_POLL_S = 0.1  # seconds between looks at the interrupt flag while waiting for a window
STOP_WAIT_S = 2.0  # seconds the reading thread gets to notice a stop (a read blocked on the network may take longer)


@dataclass(frozen=True)
class Decided:
    """A window as it is decided: the whole stream's record, and each person's in it."""

    window: WindowResult
    persons: list[tuple[int, WindowResult]]  # (person id, their record), the most present first


@dataclass
class _Ready:
    work: ChunkWork  # one window, its faces found
    ready_at: float  # time.perf_counter() when the stream had reached the window's end


_END = object()  # the stream has ended and every window is queued


class LiveSession:
    """One live source through `pipeline`: `windows()` yields each window as it is decided,
    `result()` is what was seen so far (after the stream ended, or once interrupted)."""

    def __init__(self, pipeline: Pipeline, source: LiveSource, open_s: float = 0.0) -> None:
        self.pipeline = pipeline
        self.source = source
        self.records: list[WindowResult] = []
        self._chunker = LiveChunker(source, pipeline.profile.windows)
        self._queue: queue.Queue[object] = queue.Queue()  # unbounded: the reader must never wait for the experts
        self._stop = threading.Event()  # the reader's: stop reading the stream
        self._interrupted = threading.Event()  # decide no more windows
        self._reader = threading.Thread(target=self._read, name="cer-live-read", daemon=True)
        self._sightings: list[Sighting] = []
        self._persons = PersonLog()
        self._seconds = {"probe_s": open_s, "start_s": 0.0, "decode_s": 0.0, "faces_s": 0.0, "fusion_s": 0.0}
        self._experts_before: dict[str, float] = {}  # the executor's seconds when the session began
        self._begun = time.perf_counter()

    def windows(self) -> Iterator[Decided]:
        """Each window's records, its latency in the stream's, as soon as it is decided; ends with the stream."""
        pipeline, profile = self.pipeline, self.pipeline.profile
        started = time.perf_counter()
        executor = pipeline.executor  # the experts start here, before the stream is read
        self._seconds["start_s"] = time.perf_counter() - started
        self._experts_before = dict(executor.seconds)
        budget = LatencyBudget(profile.live.max_latency_s, parallel=profile.execution.engine == "ray")
        model_ids = {name: status.model_id for name, status in executor.statuses.items()}
        names = list(profile.enabled_experts())
        pipeline.faces.reset()
        self._reader.start()
        while not self._interrupted.is_set() and (ready := self._next()) is not None:
            window = ready.work.chunk.windows[0]
            chosen, skipped = budget.choose(names, time.perf_counter() - ready.ready_at)
            before = dict(executor.seconds)
            asked = dataclasses.replace(ready.work.chunk, experts=tuple(chosen))  # only the chosen experts answer it
            answered = pipeline.collect(pipeline.submit(asked))  # with each person's views
            for name in chosen:
                budget.learn(name, executor.seconds[name] - before.get(name, 0.0))
            answers = {**answered.answers, **skipped_outputs(window.index, skipped, model_ids)}
            answered = dataclasses.replace(answered, answers={name: answers[name] for name in names})
            started = time.perf_counter()
            record = pipeline._window_record(window, 0, answered.answers)
            persons = pipeline.person_records(answered)
            self._seconds["fusion_s"] += time.perf_counter() - started
            record = record.model_copy(update={"latency_s": round(time.perf_counter() - ready.ready_at, 6)})
            self.records.append(record)
            for person, person_record in persons:
                self._persons.scored(person, person_record)
            yield Decided(record, persons)

    def interrupt(self) -> None:
        """End the session after the window under way (safe to call from a signal handler):
        `windows()` then ends, and `result()` holds the windows decided until then."""
        # No queue is touched here: a signal handler runs in the thread it interrupts, which may
        # hold the queue's lock. `windows()` looks at the flag while it waits.
        self._interrupted.set()
        self._stop.set()

    @property
    def interrupted(self) -> bool:
        return self._interrupted.is_set()

    def stop(self) -> None:
        """Stop reading the stream and let it go (again: nothing happens)."""
        self._stop.set()
        if self._reader.ident is None:  # never started (stopped while the experts started)
            self.source.close()
        elif self._reader.is_alive():
            self._reader.join(STOP_WAIT_S)

    def result(self) -> Result:
        """What was seen: the windows decided so far, and the stream's facts as far as it was read."""
        self.stop()
        executor = self.pipeline.executor
        experts_s = {name: seconds - self._experts_before.get(name, 0.0) for name, seconds in executor.seconds.items()}
        timings = Timings(**self._seconds, experts_s=experts_s, outputs_s=0.0, total_s=time.perf_counter() - self._begun)
        return self.pipeline.result(self._chunker.info(), self.records, self._persons, self._sightings, timings)

    def _next(self) -> _Ready | None:
        """The next window ready for the experts; None once the stream has ended or the session
        is interrupted."""
        while True:
            try:
                item = self._queue.get(timeout=INTERRUPT_POLL_S)
                break
            except queue.Empty:
                if self._interrupted.is_set():
                    return None
        if isinstance(item, BaseException):
            raise item
        return item if isinstance(item, _Ready) else None

    def _read(self) -> None:
        """The reading thread: decode, cut windows, find faces, queue; errors go to the queue."""
        media = self.pipeline.profile.media
        try:
            arrivals = decode_live(self.source, media.sample_fps, media.max_side, self._stop)
            while True:
                # includes the waits for the stream's data: a live source is read at its own pace
                started = time.perf_counter()
                arrival = next(arrivals, None)
                self._seconds["decode_s"] += time.perf_counter() - started
                if arrival is None:
                    break
                for work in self._chunker.add(arrival):
                    self._hand_over(work)
            if self._stop.is_set():
                return
            if self._chunker.frames_seen == 0:
                raise MediaError(f"{self.source.name}: the stream ended before its first video frame", "no_frames")
            for work in self._chunker.finish():
                self._hand_over(work)
            self._queue.put(_END)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread, raised there
            self._queue.put(exc)
        finally:
            self.source.close()  # here, in the thread that reads it

    def _hand_over(self, work: ChunkWork) -> None:
        ready_at = time.perf_counter()
        self._seconds["faces_s"] += self.pipeline.find_faces(work.new_frames, self._sightings, self._persons)
        self._queue.put(_Ready(work, ready_at))
