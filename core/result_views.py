"""Read-only views of a Result that several outputs share (so each writer states only its own
layout, never its own copy of how to read an expert's verdict or spread windows over frames)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np

from cer.core import frames as window_frames
from cer.core.result_records import ResultFields, WindowResult

# Evidence keys that carry free text worth showing beside the probabilities.
TEXT_EVIDENCE: tuple[str, ...] = ("transcript", "scene")
SHORT_REASON_CHARS = 40  # what fits a table cell or the label of a timeline row


def top_label(probs: Sequence[float] | None, names: Sequence[str]) -> str | None:
    """Name of the largest probability; None when there are no probabilities."""
    if probs is None:
        return None
    return names[max(range(len(probs)), key=probs.__getitem__)]


def expert_verdict(result: ResultFields, window: WindowResult, name: str) -> tuple[str | None, str | None]:
    """(top basic class, None) when the expert spoke in this window, else (None, reason).

    An expert missing from a window altogether is absent for the reason the expert gave
    for being unavailable, if any.
    """
    answer = window.experts.get(name)
    if answer is not None and answer.probs is not None:
        return top_label(answer.probs, result.labels.basic), None
    reason = answer.reason if answer is not None else result.experts[name].reason
    return None, reason or "no reason given"


def short_reason(reason: str) -> str:
    """The gist of an absence reason, for places that repeat it: the text up to its first ";"
    or ":" (details and the fix follow those), at most SHORT_REASON_CHARS characters. The full
    reason is shown once elsewhere (the report's legend)."""
    gist = re.split(r"[;:]", reason, maxsplit=1)[0].strip() or reason
    if len(gist) <= SHORT_REASON_CHARS:
        return gist
    return gist[: SHORT_REASON_CHARS - 1].rstrip() + "\N{HORIZONTAL ELLIPSIS}"


def absences(result: ResultFields, name: str) -> Counter[str]:
    """Why the expert was absent, with the number of windows for each reason."""
    return Counter(reason for window in result.window_results if (reason := expert_verdict(result, window, name)[1]) is not None)


def evidence_values(window: WindowResult, key: str) -> dict[str, object]:
    """The value of one evidence key, per expert that reported it in this window."""
    return {name: answer.evidence[key] for name, answer in window.experts.items() if answer.evidence.get(key) not in (None, "")}


def text_evidence_columns(result: ResultFields) -> list[tuple[str, str]]:
    """(expert, key) pairs of free-text evidence that appear in at least one window, in a
    stable order, so that tabular outputs get the same columns for every row."""
    found = {(name, key) for window in result.window_results for key in TEXT_EVIDENCE for name in evidence_values(window, key)}
    return [(name, key) for name in result.experts for key in TEXT_EVIDENCE if (name, key) in found]


def scored_windows(result: ResultFields) -> list[WindowResult]:
    """Windows that received compound scores (at least one expert spoke there)."""
    return [window for window in result.window_results if window.compound.scores is not None]


def per_frame(result: ResultFields, values: Callable[[WindowResult], Sequence[float]], width: int) -> np.ndarray:
    """`values(window)` (`width` numbers) of the windows with compound scores, averaged over
    the windows covering each video frame: [n_frames, width], NaN rows where none does."""
    windows = scored_windows(result)
    n_frames = result.video.n_frames
    if not windows:
        return np.full((n_frames, width), np.nan)
    spans = [(window.start_frame, window.end_frame) for window in windows]
    return window_frames.spread_to_frames(spans, np.array([values(window) for window in windows], dtype=np.float64), n_frames)


def compound_scores_per_frame(result: ResultFields) -> np.ndarray:
    return per_frame(result, lambda window: window.compound.scores or [], len(result.labels.compound))


def fused_per_frame(result: ResultFields) -> np.ndarray:
    return per_frame(result, lambda window: window.fused.probs or [], len(result.labels.basic))


def frame_compound_labels(result: ResultFields) -> np.ndarray:
    """Compound index per video frame: overlapping windows' scores averaged, then argmax
    (docs/method.md). Empty when no frame is covered by a window with compound scores: then no
    frame can be labelled, and -1 has no place in the ABAW file."""
    labels = window_frames.frame_labels(compound_scores_per_frame(result))
    return np.empty(0, dtype=np.int64) if (labels < 0).any() else labels
