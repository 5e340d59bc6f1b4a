"""What `cer live` prints: a line per window as it is decided, and the latency at the end."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from cer.core.labels import BASIC
from cer.core.result import WindowResult
from cer.core.result_views import top_label
from cer.pipeline.live_budget import SKIPPED


def window_line(window: WindowResult) -> str:
    """`0.00-4.00 s  Happily_Surprised (0.82)  basic: Happiness  experts: static_face, audio  latency 0.41 s`,
    and the experts skipped to keep up, if any."""
    present = ", ".join(window.fused.experts_present) or "none"
    line = f"{window.span_text}  {window.decision_text()}  basic: {top_label(window.fused.probs, BASIC) or 'none'}  experts: {present}"
    if window.latency_s is not None:
        line += f"  latency {window.latency_s:.2f} s"
    if skipped := skipped_experts(window):
        line += f"  skipped to keep up: {', '.join(skipped)}"
    return line


def person_window_line(person: int, window: WindowResult) -> str:
    """`  person 2: Happily_Surprised (0.74), speaking`: one person's verdict in a window."""
    speaking = ", speaking" if window.voice is not None and window.voice.speaker == person else ""
    return f"  person {person}: {window.decision_text()}{speaking}"


def skipped_experts(window: WindowResult) -> list[str]:
    """The experts skipped in `window` because they would have made its verdict late."""
    return [name for name, answer in window.experts.items() if answer.reason is not None and answer.reason.startswith(SKIPPED)]


def latency_summary(windows: Sequence[WindowResult], max_latency_s: float) -> str:
    """`latency over 12 windows: median 0.41 s, 95th percentile 0.60 s, longest 0.70 s (budget 4 s)`,
    and how often each expert was skipped."""
    latencies = [window.latency_s for window in windows if window.latency_s is not None]
    if not latencies:
        return "latency: no window was decided"
    median, p95 = np.percentile(latencies, [50, 95])
    line = (
        f"latency over {len(latencies)} window{'s' if len(latencies) > 1 else ''}: median {median:.2f} s, "
        f"95th percentile {p95:.2f} s, longest {max(latencies):.2f} s (budget {max_latency_s:g} s)"
    )
    skips = Counter(name for window in windows for name in skipped_experts(window))
    if skips:
        line += "; skipped to keep up: " + ", ".join(f"{name} in {count}" for name, count in skips.items())
    return line
