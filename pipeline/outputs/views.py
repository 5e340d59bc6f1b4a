"""Read-only views of a result dict that several writers share (so each writer states
only its own layout, never its own copy of how to read an expert's verdict)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

# Evidence keys that carry free text worth showing beside the probabilities.
TEXT_EVIDENCE: tuple[str, ...] = ("transcript", "scene")
SHORT_REASON_CHARS = 40  # what fits a table cell or the label of a timeline row


def expert_names(result: Mapping[str, Any]) -> list[str]:
    """Experts in the order the result lists them."""
    return list(result["experts"])


def top_label(probs: Sequence[float] | None, names: Sequence[str]) -> str | None:
    """Name of the largest probability; None when there are no probabilities."""
    if probs is None:
        return None
    return names[max(range(len(probs)), key=probs.__getitem__)]


def expert_verdict(result: Mapping[str, Any], window: Mapping[str, Any], name: str) -> tuple[str | None, str | None]:
    """(top basic class, None) when the expert spoke in this window, else (None, reason).

    An expert missing from a window altogether is absent for the reason the expert gave
    for being unavailable, if any.
    """
    output = window["experts"].get(name)
    if output is not None and output["probs"] is not None:
        return top_label(output["probs"], result["labels"]["basic"]), None
    reason = output["reason"] if output is not None else result["experts"][name]["reason"]
    return None, reason or "no reason given"


def short_reason(reason: str) -> str:
    """The gist of an absence reason, for places that repeat it: the text up to its first ";"
    or ":" (details and the fix follow those), at most SHORT_REASON_CHARS characters. The full
    reason is shown once elsewhere (the report's legend)."""
    gist = re.split(r"[;:]", reason, maxsplit=1)[0].strip() or reason
    if len(gist) <= SHORT_REASON_CHARS:
        return gist
    return gist[: SHORT_REASON_CHARS - 1].rstrip() + "\N{HORIZONTAL ELLIPSIS}"


def absences(result: Mapping[str, Any], name: str) -> Counter[str]:
    """Why the expert was absent, with the number of windows for each reason."""
    return Counter(reason for window in result["windows"] if (reason := expert_verdict(result, window, name)[1]) is not None)


def evidence_values(window: Mapping[str, Any], key: str) -> dict[str, Any]:
    """The value of one evidence key, per expert that reported it in this window."""
    return {name: output["evidence"][key] for name, output in window["experts"].items() if output["evidence"].get(key) not in (None, "")}


def text_evidence_columns(result: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(expert, key) pairs of free-text evidence that appear in at least one window, in a
    stable order, so that tabular outputs get the same columns for every row."""
    found = {(name, key) for window in result["windows"] for key in TEXT_EVIDENCE for name in evidence_values(window, key)}
    return [(name, key) for name in expert_names(result) for key in TEXT_EVIDENCE if (name, key) in found]


def scored_windows(result: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Windows that received compound scores (at least one expert spoke there)."""
    return [window for window in result["windows"] if window["compound"]["scores"] is not None]


def compound_text(window: Mapping[str, Any]) -> str:
    """The window's compound label with its confidence, e.g. `Happily_Surprised (0.82)`, or
    `basic only: Happiness (0.85)` when the pair's weaker part is too faint for a blend."""
    verdict = window["compound"]
    if verdict["label"] is None:
        return "none"
    if verdict.get("basic_only"):  # results written before the rule existed lack the key
        strength = max(verdict["pair_probs"])
        return f"basic only: {verdict['basic_only']} ({strength:.2f})"
    if verdict["confidence"] is None:
        return verdict["label"]
    return f"{verdict['label']} ({verdict['confidence']:.2f})"


def time_span(window: Mapping[str, Any]) -> str:
    return f"{window['start_s']:.2f}-{window['end_s']:.2f} s"
