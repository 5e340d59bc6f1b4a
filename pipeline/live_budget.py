"""Which experts a live window can wait for: those whose time keeps its verdict within the
latency budget (`live.max_latency_s`). The others are skipped for that window and recorded
absent with the reason, so that a slow expert cannot hold the verdicts back.

An expert's time is taken from the windows it ran on: the shorter of its last two, so that
one slow call (a first forward pass warming up, a burst of speech) does not keep it out for
good. Until it has run twice it runs whatever it costs: it cannot be judged unmeasured.
An expert that takes next to no time always runs.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from cer.core.types import ExpertOutput

MEASURED_RUNS = 2  # an expert's time is the shortest of its last this many windows
# Seconds a window below which an expert always runs: it cannot hold a verdict back (an expert
# with nothing to do: no model in the profile, no face in sight), even on a window already late.
NEGLIGIBLE_S = 0.01
SKIPPED = "skipped to keep up with the live stream"  # begins the reason of every skipped expert's answer


@dataclass
class LatencyBudget:
    """Chooses the experts of each window and learns their times."""

    max_latency_s: float
    parallel: bool  # the experts run at once (Ray actors), not one after another
    _times: dict[str, deque[float]] = field(default_factory=dict)

    def estimate(self, expert: str) -> float | None:
        """The seconds `expert` is expected to take on a window; None until measured enough."""
        times = self._times.get(expert)
        return min(times) if times is not None and len(times) == MEASURED_RUNS else None

    def learn(self, expert: str, seconds: float) -> None:
        self._times.setdefault(expert, deque(maxlen=MEASURED_RUNS)).append(seconds)

    def choose(self, experts: Iterable[str], waited_s: float) -> tuple[list[str], dict[str, str]]:
        """The experts to run on a window that has already waited `waited_s` since its end, in
        the given order, and the reason each other one is skipped. One after another, the
        quickest are taken first while the sum fits; at once, each that fits on its own."""
        names = list(experts)
        ranked = sorted(names, key=lambda name: self.estimate(name) or 0.0)
        chosen: set[str] = set()
        skipped: dict[str, str] = {}
        spent_s = 0.0
        for name in ranked:
            estimate = self.estimate(name)
            if estimate is None or estimate < NEGLIGIBLE_S:
                chosen.add(name)
                continue
            finish_s = waited_s + estimate if self.parallel else waited_s + spent_s + estimate
            if finish_s <= self.max_latency_s:
                chosen.add(name)
                spent_s += 0.0 if self.parallel else estimate
            else:
                skipped[name] = (
                    f"{SKIPPED}: it takes about {estimate:.2f} s a window, and the verdict "
                    f"would come {finish_s:.2f} s after the window's end, past live.max_latency_s ({self.max_latency_s:g} s)"
                )
        return [name for name in names if name in chosen], skipped


def skipped_outputs(window_index: int, reasons: dict[str, str], model_ids: dict[str, str]) -> dict[str, list[ExpertOutput]]:
    """The absent answers, one window each, of the experts skipped for it."""
    return {
        name: [ExpertOutput(window_index=window_index, probs=None, model_id=model_ids.get(name, name), reason=reason)]
        for name, reason in reasons.items()
    }
