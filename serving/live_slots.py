"""The live sessions running, counted against CER_LIVE_SESSIONS: each runs an analysis process
with the profile's models of its own, so that the memory and the processors they hold are
bounded by the setting."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from cer.serving.live_protocol import BUSY, Closing


class LiveSlots:
    """Used from the event loop only, where nothing runs between a check and its update, so no
    lock is needed."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_use = 0

    @contextmanager
    def hold(self) -> Iterator[None]:
        """A slot while the block runs; Closing (try again later) when there is none."""
        if self.in_use >= self.limit:
            held = f"{self.in_use} live sessions are running, the most this server takes" if self.limit else "it takes none"
            raise Closing(BUSY, f"{held} (CER_LIVE_SESSIONS); try again later")
        self.in_use += 1
        try:
            yield
        finally:
            self.in_use -= 1
