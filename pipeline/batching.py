"""Batching across chunks and videos: the preprocessed chunks that reach one expert at about
the same time share its forward passes.

An expert's Ray actor serves several callers at once (the chunks in flight of one video, and
in `cer batch` or the service the chunks of several videos). Each call hands in one
preprocessed chunk (a `Prepared`) and waits. The first caller to find the expert idle leads:
it waits until the parcels waiting hold `batch_size` items or `wait_s` has passed, takes every
parcel waiting, runs their items together (`StagedExpert.answer`, in full batches) and hands
each caller its chunk's outputs; callers that arrive meanwhile wait for the next round. No
thread of its own: the callers' threads do the work, so an idle expert costs nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from cer.core.types import ExpertOutput
from cer.modalities.base import Prepared, StagedExpert


@dataclass
class _Waiting:
    parcels: Sequence[Prepared]  # one caller's
    outputs: list[list[ExpertOutput]] | None = None
    error: BaseException | None = None
    done: bool = field(default=False)


class ItemBatcher:
    """Runs the parcels of concurrent callers of one expert in shared forward passes."""

    def __init__(self, expert: StagedExpert, wait_s: float) -> None:
        self.expert = expert
        self.wait_s = wait_s
        self._lock = threading.Condition()
        self._waiting: list[_Waiting] = []
        self._leading = False  # a caller is gathering or running a round

    def answer(self, parcels: Sequence[Prepared]) -> list[list[ExpertOutput]]:
        """The outputs for the parcels' chunks, computed in a round with whatever else is
        waiting; raises what the expert raised on that round."""
        entry = _Waiting(parcels)
        with self._lock:
            self._waiting.append(entry)
            self._lock.notify_all()  # a leader waiting for a full batch counts the new items
            while not entry.done:
                if self._leading:
                    self._lock.wait()
                else:
                    self._lead()
        if entry.error is not None:
            raise entry.error
        assert entry.outputs is not None  # set with done when no error
        return entry.outputs

    def _lead(self) -> None:
        """Gather a round, run it with the lock released, hand out the outputs (lock held on entry and exit)."""
        self._leading = True
        deadline = time.monotonic() + self.wait_s
        while sum(len(p.items) for w in self._waiting for p in w.parcels) < self.expert.batch_size:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._lock.wait(left)
        round_, self._waiting = self._waiting, []
        self._lock.release()
        try:
            outputs = self.expert.answer([p for w in round_ for p in w.parcels])
            for entry in round_:
                entry.outputs, outputs = outputs[: len(entry.parcels)], outputs[len(entry.parcels) :]
        except Exception as exc:  # noqa: BLE001 - every caller of the round gets the error
            for entry in round_:
                entry.error = exc
        finally:
            self._lock.acquire()
            for entry in round_:
                entry.done = True
            self._leading = False
            self._lock.notify_all()
