"""How the in-process executor shares the machine's cores among the experts' threads.

Two rules, both measured on the offline profile's talking clip (2 cores, bench/offline_speed.py):
- Torch's intra-op threads are the cores shared out among the experts working at once: each
  expert's thread is already one way of using a core, and N experts each asking torch for every
  core oversubscribe them.
- The lead experts (`execution.lead_experts`: those whose answers the others wait on, as a rule
  the slowest) keep the normal scheduling priority; every other expert's thread runs at a lower
  one and fills the cores around them, instead of taking half of them from the expert that
  decides when the chunk is done. Linux only, where a thread has a priority of its own.
"""

from __future__ import annotations

import os
import sys
import threading

# Niceness added to a background expert's thread: at +8 the scheduler gives it about a seventh of
# a core that a lead expert's thread also wants, and all of a core no one else wants
BACKGROUND_NICE = 8
_MAX_NICE = 19


def background_priority() -> None:
    """Lower the calling thread's scheduling priority by `BACKGROUND_NICE` (a thread pool's
    initializer); nothing where threads have no priority of their own (not Linux)."""
    if not sys.platform.startswith("linux"):
        return
    thread = threading.get_native_id()
    nice = os.getpriority(os.PRIO_PROCESS, thread)  # on Linux PRIO_PROCESS with a thread id names that thread
    os.setpriority(os.PRIO_PROCESS, thread, min(_MAX_NICE, nice + BACKGROUND_NICE))


class IntraOpThreads:
    """Torch's intra-op threads set to the cores shared out among `workers` threads (at least
    one each) while held; `restore` gives back the number there was before. Torch's setting is
    the process's, read by every thread; a process without torch imported is left alone."""

    def __init__(self, workers: int) -> None:
        self._torch = sys.modules.get("torch")
        self._before: int | None = None
        if self._torch is not None and workers > 1:
            self._before = self._torch.get_num_threads()
            self._torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))

    def restore(self) -> None:
        if self._torch is not None and self._before is not None:
            self._torch.set_num_threads(self._before)
            self._before = None
