"""A plain-text summary for the CLI to print when a run ends."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cer.pipeline.outputs.views import compound_text, time_span, top_label


def summary_table(result: Mapping[str, Any]) -> str:
    """One row per window: time span, top compound, top basic emotion, experts that spoke."""
    headers = ("time", "compound", "basic", "experts present")
    rows = []
    for window in result["windows"]:
        basic = top_label(window["fused"]["probs"], result["labels"]["basic"]) or "none"
        present = ", ".join(window["fused"]["experts_present"]) or "none"
        rows.append((time_span(window), compound_text(window), basic, present))
    widths = [max(len(row[i]) for row in (headers, *rows)) for i in range(len(headers))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in (headers, *rows)]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def cache_note(result: Mapping[str, Any]) -> str | None:
    """A line saying which experts answered from the expert-output cache (and so took no time),
    or None when none did."""
    n_windows = len(result["windows"])
    counts = {name: info.get("cached_windows", 0) for name, info in result["experts"].items()}
    if not any(counts.values()):
        return None
    if n_windows and all(count == n_windows for count in counts.values()):
        which = "every expert's output"
    else:
        which = "some expert outputs: " + ", ".join(f"{name} {count} of {n_windows} windows" for name, count in counts.items() if count)
    return f"{which} came from the expert-output cache (computed by an earlier run); `cer cache clear` empties it"
