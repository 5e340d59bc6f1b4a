"""The result of one video: typed, frozen, and the one declaration of its shape.

`Pipeline.run` returns a `Result`; result.json is its serialisation (`Result.to_json`), and the
JSON schema in core/schema/ is generated from these models (`json_schema`; a test holds the
committed file to it). Results written by earlier versions load through `load_result`.

The headline of a window and of the video, compound or "basic only", is decided once here
(`decide`, `video_decision`) and stored in the result, so that every view names the same class.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError, model_validator

from cer.core.result_records import (
    EARLIER_SCHEMAS,
    NO_DECISION,
    SCHEMA_ID,
    SUM_TOLERANCE,
    CompoundVerdict,
    Decision,
    ExpertAnswer,
    ExpertRecord,
    FacesRecord,
    Fused,
    FusionRecord,
    Labels,
    Person,
    PersonBox,
    Provenance,
    Record,
    ResultFields,
    Summary,
    Timings,
    VideoRecord,
    VoiceRecord,
    WindowResult,
    decide,
    video_decision,
)
from cer.core.result_tables import frame_rows, window_rows

if TYPE_CHECKING:
    import pandas

# The records are reached through this module too: it is where a Result is built and read.
__all__ = [
    "NO_DECISION",
    "SCHEMA_ID",
    "CompoundVerdict",
    "Decision",
    "ExpertAnswer",
    "ExpertRecord",
    "FacesRecord",
    "Fused",
    "FusionRecord",
    "Labels",
    "Person",
    "PersonBox",
    "Provenance",
    "Record",
    "Result",
    "ResultError",
    "Summary",
    "Timings",
    "VideoRecord",
    "VoiceRecord",
    "WindowResult",
    "decide",
    "json_schema",
    "load_result",
    "problem_text",
    "video_decision",
]


class Result(ResultFields):
    """Everything cer says about one video (docs/outputs.md)."""

    @model_validator(mode="after")
    def _consistent(self) -> Result:
        problem = next(iter(_consistency_problems(self)), None)
        if problem is not None:
            raise ValueError(f"{_dotted(problem[0])}: {problem[1]}")
        return self

    def windows(self) -> pandas.DataFrame:
        """One row per window, the columns of windows.csv (needs pandas: `pip install pandas`)."""
        columns, rows = window_rows(self)
        return _pandas().DataFrame(rows, columns=columns)

    def frames(self) -> pandas.DataFrame:
        """One row per video frame, the columns of frames_probs.csv (needs pandas)."""
        columns, rows = frame_rows(self)
        return _pandas().DataFrame(rows, columns=columns)


class ResultError(ValueError):
    """A result that does not follow the schema; the message names the first offending path."""


def load_result(source: str | Path | Mapping[str, Any]) -> Result:
    """A Result from a result.json file or its parsed content, of this or an earlier schema
    version; ResultError names the first problem."""
    data = json.loads(Path(source).read_text(encoding="utf-8")) if isinstance(source, (str, Path)) else source
    if not isinstance(data, Mapping):
        raise ResultError(f"result: a JSON object is needed, not {type(data).__name__}")
    try:
        return Result.model_validate(_from_v1(data) if data.get("schema") in EARLIER_SCHEMAS else data)
    except ValidationError as exc:
        raise ResultError(problem_text(exc)) from None


def problem_text(exc: ValidationError) -> str:
    """The first problem of a ValidationError as `result.windows[0].experts.text.probs: what`;
    the cross-field rules (`_consistency_problems`) name their own path."""
    first = exc.errors()[0]
    message = str(first["msg"]).removeprefix("Value error, ")
    return message if message.startswith("result") else f"{_dotted(first['loc'])}: {message}"


def json_schema() -> dict[str, Any]:
    """The JSON schema of result.json, generated from the models (committed as core/schema/result.v2.json)."""
    schema = Result.model_json_schema(mode="serialization", by_alias=True)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}


def _from_v1(data: Mapping[str, Any]) -> dict[str, Any]:
    """v1 lacked the stored decisions (each view decided on its own); they follow from the
    verdicts. A malformed verdict raises ValidationError, which `load_result` names."""
    windows = []
    for i, window in enumerate(data.get("windows") or []):
        try:
            verdict = CompoundVerdict.model_validate(window.get("compound"))
        except ValidationError as exc:
            raise ResultError(f"result.windows[{i}].compound: {problem_text(exc).split(': ', 1)[-1]}") from None
        windows.append({**window, "decision": decide(verdict).model_dump()})
    decision = video_decision(Decision.model_validate(window["decision"]) for window in windows)
    summary = {**(data.get("summary") or {}), "decision": decision.model_dump()}
    return {**data, "schema": SCHEMA_ID, "windows": windows, "summary": summary}


def _pandas() -> Any:
    try:
        import pandas
    except ImportError:
        raise ImportError("Result.windows() and Result.frames() need pandas: pip install pandas") from None
    return pandas


def _dotted(parts: Iterable[Any]) -> str:
    text = "result"
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


Problem = tuple[tuple[Any, ...], str]  # (path inside the result, what is wrong there)


def _consistency_problems(result: Result) -> Iterable[Problem]:
    """Rules a schema cannot state: lengths and names that depend on other fields."""
    basic, compound = result.labels.basic, result.labels.compound
    if list(result.labels.pairs) != compound:
        yield ("labels", "pairs"), f"keys must be the compound labels in order, {compound}"
    for name, pair in result.labels.pairs.items():
        for member in pair:
            if member not in basic:
                yield ("labels", "pairs", name), f"{member!r} is not a basic label"
    for i, window in enumerate(result.window_results):
        yield from _window_problems(("windows", i), window, result.experts, basic, compound)
    n_windows = len(result.window_results)
    for name, expert in result.experts.items():
        if (expert.cached_windows or 0) > n_windows:
            yield ("experts", name, "cached_windows"), f"is more than the {n_windows} windows"
    n_frames = result.video.n_frames
    for i, (start, end) in enumerate(result.faces.seen or ()):
        if not start < end <= n_frames:
            yield ("faces", "seen", i), f"[{start}, {end}) is not a range of the video's {n_frames} frames"
    yield from _person_problems(result, basic, compound)
    summary = result.summary
    if summary.n_windows != n_windows:
        yield ("summary", "n_windows"), f"is {summary.n_windows} but there are {n_windows} windows"
    if summary.dominant_compound not in (None, *compound):
        yield ("summary", "dominant_compound"), f"{summary.dominant_compound!r} is not a compound label"
    if summary.dominant_basic not in (None, *basic):
        yield ("summary", "dominant_basic"), f"{summary.dominant_basic!r} is not a basic label"
    for name in summary.compound_share:
        if name not in compound:
            yield ("summary", "compound_share", name), "is not a compound label"
    if summary.decision != video_decision(window.decision for window in result.window_results):
        yield ("summary", "decision"), "is not the decision most windows share"


def _person_problems(result: Result, basic: list[str], compound: list[str]) -> Iterable[Problem]:
    ids = [person.id for person in result.persons]
    if len(set(ids)) != len(ids):
        yield ("persons",), f"person ids must differ, not {ids}"
    for p, person in enumerate(result.persons):
        at = ("persons", p)
        for i, window in enumerate(person.windows):
            yield from _window_problems((*at, "windows", i), window, result.experts, basic, compound)
            voice = window.voice
            if voice is not None and voice.speaker is not None and voice.speaker not in ids:
                yield (*at, "windows", i, "voice", "speaker"), f"{voice.speaker} is not a person of the result"
        if person.summary.n_windows != len(person.windows):
            yield (*at, "summary", "n_windows"), f"is {person.summary.n_windows} but the person has {len(person.windows)} windows"
        if person.summary.decision != video_decision(window.decision for window in person.windows):
            yield (*at, "summary", "decision"), "is not the decision most of the person's windows share"


def _window_problems(
    at: tuple[Any, ...], window: WindowResult, experts: Mapping[str, ExpertRecord], basic: list[str], compound: list[str]
) -> Iterable[Problem]:
    if window.end_s < window.start_s:
        yield (*at, "end_s"), "ends before it starts"
    if window.end_frame < window.start_frame:
        yield (*at, "end_frame"), "ends before it starts"
    for name, answer in window.experts.items():
        where = (*at, "experts", name)
        if name not in experts:
            yield where, "expert is not listed in result.experts"
        if answer.probs is None and answer.reason is None:
            yield (*where, "reason"), "an absent expert must say why"
        if answer.probs is not None and abs(sum(answer.probs) - 1) > SUM_TOLERANCE:
            yield (*where, "probs"), f"sums to {sum(answer.probs):.4f}, not 1"
    fused = window.fused
    for key, names in (("experts_present", fused.experts_present), ("weights", list(fused.weights))):
        for name in names:
            if name not in experts:
                yield (*at, "fused", key), f"{name!r} is not listed in result.experts"
    if len(set(fused.experts_present)) != len(fused.experts_present):
        yield (*at, "fused", "experts_present"), "names an expert twice"
    if (fused.probs is None) != (not fused.experts_present):
        yield (*at, "fused", "probs"), "must be null exactly when no expert is present"
    verdict = window.compound
    if verdict.scores is not None and len(verdict.scores) != len(compound):
        yield (*at, "compound", "scores"), f"has {len(verdict.scores)} scores for {len(compound)} compound labels"
    if verdict.scores is None and verdict.label is not None:
        yield (*at, "compound", "label"), "a label needs scores"
    if verdict.label not in (None, *compound):
        yield (*at, "compound", "label"), f"{verdict.label!r} is not a compound label"
    for member in verdict.pair or ():
        if member not in basic:
            yield (*at, "compound", "pair"), f"{member!r} is not a basic label"
    if window.decision != decide(verdict):
        yield (*at, "decision"), f"{window.decision.text!r} does not follow from the compound verdict ({decide(verdict).text!r})"
