"""The result of one video: typed, frozen, and the one declaration of its shape.

`Pipeline.run` returns a `Result`; result.json is its serialisation (`Result.to_json`), and the
JSON schema in core/schema/ is generated from these models (`json_schema`; a test holds the
committed file to it). Results written by earlier versions load through `load_result`.

The headline of a window and of the video, compound or "basic only", is decided once here
(`decide`, `video_decision`) and stored in the result, so that every view names the same class.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cer.core.labels import BASIC

if TYPE_CHECKING:
    import pandas

SCHEMA_ID: Final = "cer.result/v2"
EARLIER_SCHEMAS = ("cer.result/v1",)  # upgraded on load (`load_result`)
SUM_TOLERANCE = 1e-3  # probabilities are produced in float32 and may be rounded before export

Probability = Annotated[float, Field(ge=0, le=1)]
BasicProbs = Annotated[list[Probability], Field(min_length=len(BASIC), max_length=len(BASIC))]
Seconds = Annotated[float, Field(ge=0)]
Count = Annotated[int, Field(ge=0)]


class Record(BaseModel):
    """Frozen, closed to unknown keys, and finite: NaN and infinity are not JSON."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class Provenance(Record):
    """The cer that wrote the result."""

    version: str
    git: str | None = Field(description="the git revision when cer ran from a checkout")


class VideoRecord(Record):
    """What the probe learned about the video."""

    path: str
    duration_s: Seconds
    fps: Annotated[float, Field(gt=0)]
    width: Count  # display size, after rotation
    height: Count
    has_audio: bool
    n_frames: Count
    rotation: Literal[0, 90, 180, 270] = 0


class Labels(Record):
    basic: Annotated[list[str], Field(min_length=len(BASIC), max_length=len(BASIC))]
    compound: Annotated[list[str], Field(min_length=1)]
    pairs: dict[str, tuple[str, str]] = Field(description="compound label -> its two basic labels")


class ExpertRecord(Record):
    """Whether an expert could be built (its `reason` when not), and the model behind it."""

    status: Literal["ok", "unavailable"]
    model_id: str
    reason: str | None
    note: str | None
    cached_windows: Count | None = Field(
        default=None, description="with the expert-output cache on: windows answered from it (taking no time) instead of computed"
    )


class FacesRecord(Record):
    detector: str
    tracks: Count
    seen: list[tuple[Count, Count]] | None = Field(
        default=None,
        description="[start_frame, end_frame) ranges where a face was found (a sampled frame stands for the frames up to the next)",
    )


class FusionRecord(Record):
    """How the experts are weighed (MHPF)."""

    method: Literal["mhpf"]
    heads: Annotated[int, Field(ge=1)]
    weights_file: str | None
    expert_weights: dict[str, BasicProbs] = Field(description="per expert and basic class, its weight when every expert is present")
    temperatures: dict[str, Annotated[float, Field(gt=0)]] | None = Field(
        default=None, description="per expert T: its distributions enter the fusion as p ** (1 / T), renormalised"
    )


class ExpertAnswer(Record):
    """One expert in one window: 8 basic probabilities, or absent with the reason."""

    probs: BasicProbs | None
    reason: str | None
    evidence: dict[str, Any] = Field(
        description="open by design, each expert explains itself (transcript, scene, face_frames, speech_ratio, ...)"
    )

    @property
    def present(self) -> bool:
        return self.probs is not None


class Fused(Record):
    probs: BasicProbs | None = Field(description="null exactly when no expert was present")
    weights: dict[str, BasicProbs] = Field(description="per present expert, its effective weight for each basic class")
    experts_present: list[str]


class CompoundVerdict(Record):
    """The basic-to-compound conversion of one window (PPA or PFSA)."""

    method: Literal["ppa", "pfsa"]
    scores: list[float] | None = Field(description="one per compound label, in labels.compound order")
    label: str | None = Field(description="the argmax compound, forced (the ABAW file's label)")
    confidence: float | None
    pair: tuple[str, str] | None
    pair_probs: tuple[Probability, Probability] | None
    note: str | None
    basic_only: str | None = Field(
        default=None, description="the stronger basic of the winning pair when the weaker is below compound.basic_only_below"
    )


class Decision(Record):
    """The headline: a compound, one basic class ("basic only"), or none (no expert spoke)."""

    kind: Literal["compound", "basic", "none"]
    label: str | None

    @property
    def text(self) -> str:
        """How every view writes the decision: `Happily_Surprised`, `basic only: Happiness`, `none`."""
        if self.kind == "basic":
            return f"basic only: {self.label}"
        return self.label or "none"


NO_DECISION = Decision(kind="none", label=None)


class WindowResult(Record):
    index: Count
    start_s: Seconds
    end_s: Seconds
    start_frame: Count
    end_frame: Count  # one past the last frame
    experts: dict[str, ExpertAnswer]
    fused: Fused
    compound: CompoundVerdict
    decision: Decision

    @property
    def span_text(self) -> str:
        return f"{self.start_s:.2f}-{self.end_s:.2f} s"

    def decision_text(self) -> str:
        """The decision with the strength behind it: `Happily_Surprised (0.82)`, `basic only: Happiness (0.85)`."""
        verdict = self.compound
        if self.decision.kind == "basic" and verdict.pair_probs is not None:
            return f"{self.decision.text} ({max(verdict.pair_probs):.2f})"
        if self.decision.kind == "compound" and verdict.confidence is not None:
            return f"{self.decision.text} ({verdict.confidence:.2f})"
        return self.decision.text


class Summary(Record):
    n_windows: Count
    decision: Decision = Field(description="the video's headline: the decision most windows share")
    dominant_compound: str | None = Field(description="the forced compound label most windows have (ABAW), not the headline")
    compound_share: dict[str, Probability] = Field(description="per compound label, its share of the windows' forced labels")
    dominant_basic: str | None = Field(description="the argmax of the fused probabilities averaged over windows")


class Timings(Record):
    """Seconds per stage; outputs_s is 0 until the output files are written."""

    probe_s: Seconds
    start_s: Seconds | None = None
    decode_s: Seconds
    faces_s: Seconds
    experts_s: dict[str, Seconds]
    fusion_s: Seconds
    outputs_s: Seconds
    total_s: Seconds


class Result(Record):
    """Everything cer says about one video (docs/outputs.md)."""

    # Frozen: attributes cannot be assigned. Its lists and dicts are plain Python ones, so
    # change nothing inside them; derive a new Result with `model_copy(update=...)` (which does
    # not re-check) or build one (which does).

    # `by_alias`: the JSON key `schema` would shadow a BaseModel attribute; `windows` is a
    # method (a data frame) in Python, the list is `window_results`.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False, populate_by_name=True, serialize_by_alias=True)

    schema_id: Literal["cer.result/v2"] = Field(default=SCHEMA_ID, alias="schema")
    cer: Provenance | None = None
    video: VideoRecord
    profile: str
    labels: Labels
    experts: dict[str, ExpertRecord]
    fusion: FusionRecord | None = None
    faces: FacesRecord
    window_results: list[WindowResult] = Field(alias="windows")
    summary: Summary
    timings: Timings

    @model_validator(mode="after")
    def _consistent(self) -> Result:
        problem = next(iter(_consistency_problems(self)), None)
        if problem is not None:
            raise ValueError(f"{_dotted(problem[0])}: {problem[1]}")
        return self

    @property
    def decision(self) -> Decision:
        return self.summary.decision

    def to_json(self) -> str:
        return self.model_dump_json(indent=2) + "\n"

    def windows(self) -> pandas.DataFrame:
        """One row per window, the columns of windows.csv (needs pandas: `pip install pandas`)."""
        from cer.core.result_tables import window_rows

        columns, rows = window_rows(self)
        return _pandas().DataFrame(rows, columns=columns)

    def frames(self) -> pandas.DataFrame:
        """One row per video frame, the columns of frames_probs.csv (needs pandas)."""
        from cer.core.result_tables import frame_rows

        columns, rows = frame_rows(self)
        return _pandas().DataFrame(rows, columns=columns)


class ResultError(ValueError):
    """A result that does not follow the schema; the message names the first offending path."""


def decide(verdict: CompoundVerdict) -> Decision:
    """The headline of one window: its compound, unless the weaker part of the pair is too
    faint for a blend (then the stronger basic class alone), or none when no expert spoke."""
    if verdict.label is None:
        return NO_DECISION
    if verdict.basic_only:
        return Decision(kind="basic", label=verdict.basic_only)
    return Decision(kind="compound", label=verdict.label)


def video_decision(decisions: Iterable[Decision]) -> Decision:
    """The decision most windows share (the earliest of equals); none when no window has one."""
    counts = Counter(decision for decision in decisions if decision.kind != "none")
    return counts.most_common(1)[0][0] if counts else NO_DECISION


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
