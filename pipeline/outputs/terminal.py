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
