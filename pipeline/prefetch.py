"""A producer thread ahead of its consumer: the runner decodes chunks and finds their faces in
one while the experts work on earlier chunks (and, in `cer run`, while Ray and the models
start), with at most a few chunks waiting so that memory stays bounded."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class _Raised:
    error: BaseException


_END = object()


class Prefetcher(Generic[T]):
    """Runs `produce` in a thread of its own from the moment it is made; iterate to take its
    items in order (an error it raised comes out where its item would have). `close` stops it."""

    def __init__(self, produce: Iterator[T], depth: int) -> None:
        self._produce = produce
        self._ready: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name="cer-decode", daemon=True)
        self._thread.start()

    def _offer(self, item: object) -> bool:
        """Queue `item`, waiting for room; False once the consumer has stopped listening."""
        while not self._stop.is_set():
            try:
                self._ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _work(self) -> None:
        try:
            for item in self._produce:
                if not self._offer(item):
                    return
            self._offer(_END)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            self._offer(_Raised(exc))
        finally:
            close = getattr(self._produce, "close", None)
            if close is not None:  # a generator: its files close in the thread that used them
                close()

    def __iter__(self) -> Iterator[T]:
        while True:
            item = self._ready.get()
            if item is _END:
                return
            if isinstance(item, _Raised):
                raise item.error
            yield item  # type: ignore[misc]  # everything else in the queue came from `produce`

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
