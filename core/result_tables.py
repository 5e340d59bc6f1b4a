"""The two tables of a Result: one row per window (windows.csv, `Result.windows()`) and one
row per video frame (frames_probs.csv, `Result.frames()`). Cells are plain values; None where
a value is missing (an empty cell in a CSV)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from cer.core.face_presence import seen_per_frame
from cer.core.result_records import Person, ResultFields, WindowResult
from cer.core.result_views import compound_scores_per_frame, expert_verdict, fused_per_frame, text_evidence_columns, top_label

DIGITS = 6  # enough for probabilities; keeps the files readable
_SPAN = ("index", "start_s", "end_s", "start_frame", "end_frame")  # copied from the window as they are

Table = tuple[list[str], list[dict[str, Any]]]  # column names, rows


def window_rows(result: ResultFields) -> Table:
    """Per window and person scored in it (the person's own fusion; `person` is their id), or
    the video's row (`person` empty) where no person was scored: its span, the decision (the
    headline every view shows), the forced compound label and its confidence, the fused
    probabilities, the compound scores, each expert's top class (or "absent") and the free
    text experts reported. A one-person video's rows are the video's, with its person's id."""
    basic, compound = result.labels.basic, result.labels.compound
    texts = text_evidence_columns(result)
    columns = [
        "person",
        *_SPAN,
        "decision",
        "compound",
        "confidence",
        "basic_only",
        "top_basic",
        *(f"fused_{name}" for name in basic),
        *(f"compound_{name}" for name in compound),
        *(f"expert_{name}" for name in result.experts),
        *(f"expert_{name}_{key}" for name, key in texts),
    ]
    own = {person.id: {window.index: window for window in person.windows} for person in result.persons}
    rows = []
    for window in result.window_results:
        scored: list[tuple[int | None, WindowResult]] = [
            (person, windows[window.index]) for person, windows in own.items() if window.index in windows
        ]
        for person, row_window in scored or [(None, window)]:
            rows.append({"person": person, **_window_row(result, row_window, texts)})
    return columns, rows


def _window_row(result: ResultFields, window: WindowResult, texts: Sequence[tuple[str, str]]) -> dict[str, Any]:
    basic, compound = result.labels.basic, result.labels.compound
    verdict = window.compound
    row: dict[str, Any] = {key: getattr(window, key) for key in _SPAN}
    row["decision"] = window.decision.text
    row["compound"] = verdict.label
    row["confidence"] = _rounded(verdict.confidence)
    row["basic_only"] = verdict.basic_only
    row["top_basic"] = top_label(window.fused.probs, basic)
    row.update(_spread("fused_", basic, window.fused.probs))
    row.update(_spread("compound_", compound, verdict.scores))
    for name in result.experts:
        row[f"expert_{name}"] = expert_verdict(result, window, name)[0] or "absent"
    for name, key in texts:
        answer = window.experts.get(name)
        row[f"expert_{name}_{key}"] = answer.evidence.get(key) if answer else None
    return row


def frame_rows(result: ResultFields) -> Table:
    """Per video frame (counted from 0) and person whose windows cover it, or the video's row
    (`person` empty) where none does: its time, whether a face was seen (1 or 0; None for
    results that did not record faces per frame, and outside the part analysed), the fused
    probabilities and compound scores averaged over the windows covering it (None where no
    window with an answer does), and then why there are none."""
    basic, compound = result.labels.basic, result.labels.compound
    columns = [
        "person",
        "frame",
        "time_s",
        "face",
        *(f"fused_{name}" for name in basic),
        *(f"compound_{name}" for name in compound),
        "why_none",
    ]
    n_frames, fps = result.video.n_frames, result.video.fps
    video_numbers = _frame_numbers(result)
    person_numbers = [(person.id, _frame_numbers(person_view(result, person))) for person in result.persons]
    seen = result.faces.seen
    faces = seen_per_frame(seen, n_frames).astype(int).tolist() if seen is not None else [None] * n_frames
    outside = [False] * n_frames
    if result.video.part_s is not None and result.window_results:  # outside the part analysed, no one looked
        first, last = result.window_results[0].start_frame, result.window_results[-1].end_frame
        outside = [not first <= frame < last for frame in range(n_frames)]
        faces = [None if out else face for face, out in zip(faces, outside, strict=True)]
    rows = []
    for frame, (face, out) in enumerate(zip(faces, outside, strict=True)):
        covered: list[tuple[int | None, list[float]]] = [
            (person, numbers[frame]) for person, numbers in person_numbers if not math.isnan(numbers[frame][0])
        ]
        for person, values in covered or [(None, video_numbers[frame])]:
            cells = [None if math.isnan(value) else value for value in values]
            why = _why_no_values(face, out) if cells[0] is None else None
            rows.append(dict(zip(columns, [person, frame, round(frame / fps, DIGITS), face, *cells, why], strict=True)))
    return columns, rows


def person_view(result: ResultFields, person: Person) -> ResultFields:
    """The result as one person's: their windows and summary in place of the video's."""
    return result.model_copy(update={"window_results": person.windows, "summary": person.summary})


def _frame_numbers(result: ResultFields) -> list[list[float]]:
    """Per video frame, the fused probabilities then the compound scores (NaN where no window with an answer covers it)."""
    numbers: list[list[float]] = np.round(np.hstack([fused_per_frame(result), compound_scores_per_frame(result)]), DIGITS).tolist()
    return numbers


def _why_no_values(face: int | None, outside: bool) -> str:
    """Why a frame has no fused probabilities: the windows covering it had no expert's answer."""
    if outside:
        return "outside the part analysed"
    return "no face, and no other expert spoke" if face == 0 else "no expert spoke"


def _spread(prefix: str, names: Sequence[str], values: Sequence[float | None] | None) -> dict[str, float | None]:
    """One column per name; empty cells when the window has no values (no expert spoke)."""
    values = values if values is not None else [None] * len(names)
    return {f"{prefix}{name}": _rounded(value) for name, value in zip(names, values, strict=True)}


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, DIGITS)
