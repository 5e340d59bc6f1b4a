"""result.json: the result itself, checked against the `cer.result/v1` schema."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from cer.pipeline.outputs.atomic import atomic_open

SCHEMA_ID = "cer.result/v1"
_SUM_TOLERANCE = 1e-3  # probabilities are produced in float32 and may be rounded before export
_MAX_MESSAGE = 300  # characters; jsonschema quotes the offending value, which may be a whole list

Problem = tuple[tuple[Any, ...], str]  # (path inside the result, what is wrong there)


@cache
def _validator() -> Draft202012Validator:
    text = resources.files("cer.pipeline").joinpath("schema/result.v1.json").read_text(encoding="utf-8")
    return Draft202012Validator(json.loads(text))


def validate_result(result: Mapping[str, Any]) -> None:
    """Raise ValueError naming the first offending path (e.g. `windows[0].experts.text.probs`)
    when `result` does not follow the schema or its fields contradict one another."""
    error = best_match(_validator().iter_errors(result))
    if error is not None:
        message = error.message
        if len(message) > _MAX_MESSAGE:
            message = message[:_MAX_MESSAGE] + "..."
        raise ValueError(f"{_dotted(error.absolute_path)}: {message}")
    problem = next(_consistency_problems(result), None)
    if problem is not None:
        raise ValueError(f"{_dotted(problem[0])}: {problem[1]}")


def write_result_json(result: Mapping[str, Any], path: Path) -> None:
    with atomic_open(path) as handle:
        # allow_nan=False: NaN is not JSON; validate_result has already named any non-finite value.
        json.dump(result, handle, indent=2, ensure_ascii=False, allow_nan=False)
        handle.write("\n")


def _dotted(parts: Iterable[Any]) -> str:
    text = "result"
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def _consistency_problems(result: Mapping[str, Any]) -> Iterator[Problem]:
    """Rules JSON Schema cannot state: lengths and names that depend on other fields."""
    labels = result["labels"]
    basic, compound = labels["basic"], labels["compound"]
    if list(labels["pairs"]) != list(compound):
        yield ("labels", "pairs"), f"keys must be the compound labels in order, {compound}"
    for name, pair in labels["pairs"].items():
        for member in pair:
            if member not in basic:
                yield ("labels", "pairs", name), f"{member!r} is not a basic label"
    for i, window in enumerate(result["windows"]):
        yield from _window_problems(("windows", i), window, result["experts"], basic, compound)
    for name, expert in result["experts"].items():
        if expert.get("cached_windows", 0) > len(result["windows"]):
            yield ("experts", name, "cached_windows"), f"is more than the {len(result['windows'])} windows"
    n_frames = result["video"]["n_frames"]
    for i, (start, end) in enumerate(result["faces"].get("seen", [])):
        if not start < end <= n_frames:
            yield ("faces", "seen", i), f"[{start}, {end}) is not a range of the video's {n_frames} frames"
    summary = result["summary"]
    if summary["n_windows"] != len(result["windows"]):
        yield ("summary", "n_windows"), f"is {summary['n_windows']} but there are {len(result['windows'])} windows"
    if summary["dominant_compound"] not in (None, *compound):
        yield ("summary", "dominant_compound"), f"{summary['dominant_compound']!r} is not a compound label"
    if summary["dominant_basic"] not in (None, *basic):
        yield ("summary", "dominant_basic"), f"{summary['dominant_basic']!r} is not a basic label"
    for name in summary["compound_share"]:
        if name not in compound:
            yield ("summary", "compound_share", name), "is not a compound label"
    yield from _non_finite(result, ())


def _window_problems(
    at: tuple[Any, ...], window: Mapping[str, Any], experts: Mapping[str, Any], basic: list[str], compound: list[str]
) -> Iterator[Problem]:
    if window["end_s"] < window["start_s"]:
        yield (*at, "end_s"), "ends before it starts"
    if window["end_frame"] < window["start_frame"]:
        yield (*at, "end_frame"), "ends before it starts"
    for name, output in window["experts"].items():
        where = (*at, "experts", name)
        if name not in experts:
            yield where, "expert is not listed in result.experts"
        if output["probs"] is None and output["reason"] is None:
            yield (*where, "reason"), "an absent expert must say why"
        if output["probs"] is not None and abs(sum(output["probs"]) - 1) > _SUM_TOLERANCE:
            yield (*where, "probs"), f"sums to {sum(output['probs']):.4f}, not 1"
    fused = window["fused"]
    for key in ("experts_present", "weights"):
        for name in fused[key]:
            if name not in experts:
                yield (*at, "fused", key), f"{name!r} is not listed in result.experts"
    if (fused["probs"] is None) != (not fused["experts_present"]):
        yield (*at, "fused", "probs"), "must be null exactly when no expert is present"
    verdict = window["compound"]
    scores = verdict["scores"]
    if scores is not None and len(scores) != len(compound):
        yield (*at, "compound", "scores"), f"has {len(scores)} scores for {len(compound)} compound labels"
    if scores is None and verdict["label"] is not None:
        yield (*at, "compound", "label"), "a label needs scores"
    if verdict["label"] not in (None, *compound):
        yield (*at, "compound", "label"), f"{verdict['label']!r} is not a compound label"
    for member in verdict["pair"] or ():
        if member not in basic:
            yield (*at, "compound", "pair"), f"{member!r} is not a basic label"


def _non_finite(value: Any, at: tuple[Any, ...]) -> Iterator[Problem]:
    if isinstance(value, float) and not math.isfinite(value):
        yield at, f"{value} is not a finite number"
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _non_finite(item, (*at, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _non_finite(item, (*at, i))
