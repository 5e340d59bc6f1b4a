"""windows.csv: one row per window, for spreadsheets and quick scripts."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cer.pipeline.outputs.atomic import atomic_open
from cer.pipeline.outputs.views import expert_names, expert_verdict, text_evidence_columns, top_label

_DIGITS = 6  # enough for probabilities; keeps the file readable
_SPAN = ("index", "start_s", "end_s", "start_frame", "end_frame")  # copied from the window as they are


def window_rows(result: Mapping[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    """Column names and one row per window (empty cells where a value is null)."""
    basic, compound = result["labels"]["basic"], result["labels"]["compound"]
    experts = expert_names(result)
    texts = text_evidence_columns(result)
    columns = [
        *_SPAN,
        "compound",
        "confidence",
        "basic_only",
        "top_basic",
        *(f"fused_{name}" for name in basic),
        *(f"compound_{name}" for name in compound),
        *(f"expert_{name}" for name in experts),
        *(f"expert_{name}_{key}" for name, key in texts),
    ]
    rows = []
    for window in result["windows"]:
        fused, verdict = window["fused"]["probs"], window["compound"]
        row: dict[str, Any] = {key: window[key] for key in _SPAN}
        row["compound"] = verdict["label"]
        row["confidence"] = _rounded(verdict["confidence"])
        row["basic_only"] = verdict.get("basic_only")  # results written before the rule lack it
        row["top_basic"] = top_label(fused, basic)
        row.update(_spread("fused_", basic, fused))
        row.update(_spread("compound_", compound, verdict["scores"]))
        for name in experts:
            row[f"expert_{name}"] = expert_verdict(result, window, name)[0] or "absent"
        for name, key in texts:
            output = window["experts"].get(name)
            row[f"expert_{name}_{key}"] = output["evidence"].get(key) if output else None
        rows.append(row)
    return columns, rows


def write_windows_csv(result: Mapping[str, Any], path: Path) -> None:
    columns, rows = window_rows(result)
    with atomic_open(path) as handle:
        # csv.DictWriter writes None as an empty cell and quotes text with commas, quotes or newlines.
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def _spread(prefix: str, names: list[str], values: Sequence[float | None] | None) -> dict[str, float | None]:
    """One column per name; empty cells when the window has no values (no expert spoke)."""
    values = values if values is not None else [None] * len(names)
    return {f"{prefix}{name}": _rounded(value) for name, value in zip(names, values, strict=True)}


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, _DIGITS)
